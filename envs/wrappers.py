"""Wrappers for gymnax 1.0 environments; `envs.registry.make_batched` stacks them for training.

Single-env wrappers (`EpisodeStatistics`, `FlattenObservation`, `KeepObservation`, `ClipAction`) keep the six-value
`step` API and compose with gymnax's own. `VmapEnv` turns one env into a batch of `num_envs` (a
`BatchedEnv`, the protocol in `envs.registry`, which envpool's Atari env implements directly);
`OptimisticResetEnv` does the same with "optimistic resets", for envs whose reset is expensive.
Batch-level wrappers (`NormalizeObservation`) sit on top of any `BatchedEnv`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces
from gymnax.wrappers.purerl import FlattenObservationWrapper, GymnaxWrapper

if TYPE_CHECKING:
    from .registry import BatchedEnv

FlattenObservation = FlattenObservationWrapper
"""Flattens observations (and `info["final_observation"]`) to 1-D: gymnax's own wrapper."""


@struct.dataclass
class EpisodeStatisticsState:
    env_state: Any
    episode_return: jax.Array  # () float32, return of the running episode so far
    episode_length: jax.Array  # () int32, steps of the running episode so far


class EpisodeStatistics(GymnaxWrapper):
    """Reports the return and length of each completed episode.

    `info["returned_episode"]` is True on the step that ends an episode (terminated or truncated);
    on that step `info["episode_return"]` and `info["episode_length"]` hold the finished episode's
    undiscounted return and length. On other steps they hold the running episode's values, so
    always mask with `returned_episode`.
    """

    def reset(self, key, params=None):
        obs, env_state = self._env.reset(key, params)
        return obs, EpisodeStatisticsState(env_state, jnp.float32(0.0), jnp.int32(0))

    def step(self, key, state: EpisodeStatisticsState, action, params=None):
        obs, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        episode_return = state.episode_return + reward.astype(jnp.float32)
        episode_length = state.episode_length + 1
        info = {
            **info,
            "returned_episode": done,
            "episode_return": episode_return,
            "episode_length": episode_length,
        }
        new_state = EpisodeStatisticsState(
            env_state,
            jnp.where(done, 0.0, episode_return),
            jnp.where(done, 0, episode_length),
        )
        return obs, new_state, reward, terminated, truncated, info


class KeepObservation(GymnaxWrapper):
    """Keeps the entries `keep` of a vector observation, in that order: a partially observed task
    from any gymnax env (CartPole-v1 with `keep=(0, 2)`, cart position and pole angle, hides the
    velocities). `info["final_observation"]` is cut the same way; the observation space becomes a
    Box of the kept entries' bounds. Indices are checked by `envs.registry.jax_env_options`.
    """

    def __init__(self, env, keep: tuple[int, ...]):
        super().__init__(env)
        self.keep = jnp.asarray(keep, jnp.int32)  # (K,)

    def observation_space(self, params=None):
        space = self._env.observation_space(params)
        low = jnp.broadcast_to(jnp.asarray(space.low), space.shape)[self.keep]
        high = jnp.broadcast_to(jnp.asarray(space.high), space.shape)[self.keep]
        return spaces.Box(low, high, (len(self.keep),), space.dtype)

    def reset(self, key, params=None):
        obs, state = self._env.reset(key, params)
        return obs[..., self.keep], state

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        info = {**info, "final_observation": info["final_observation"][..., self.keep]}
        return obs[..., self.keep], state, reward, terminated, truncated, info


class ClipAction(GymnaxWrapper):
    """Clips continuous actions to the bounds of the env's `Box` action space before stepping."""

    def step(self, key, state, action, params=None):
        space = self._env.action_space(params if params is not None else self._env.default_params)
        action = jnp.clip(action, space.low, space.high)
        return self._env.step(key, state, action, params)


class VmapEnv:
    """A `BatchedEnv` made by vmapping a single gymnax env (with fixed params) over `num_envs`."""

    def __init__(self, env, params, num_envs: int):
        self.env, self.params, self.num_envs = env, params, num_envs
        self.observation_space = env.observation_space(params)
        self.action_space = env.action_space(params)

    def reset(self, key):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, self.params)

    def step(self, key, state, action):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(keys, state, action, self.params)


class DeferReset(GymnaxWrapper):
    """The innermost wrapper under `OptimisticResetEnv`: steps without gymnax's auto-reset.

    An episode's last step returns its final observation and state (the batch restarts that env
    from a fresh state). The step key is split as gymnax's `step` splits it, so a step that does
    not end an episode is the same as under auto-reset.
    """

    def step(self, key, state, action, params=None):
        params = self._env.default_params if params is None else params
        key_step, _ = jax.random.split(key)
        obs, state, reward, terminated, info = self._env.step_env(key_step, state, action, params)
        truncated = self._env.is_truncated(state, params)
        info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": obs}
        return obs, state, reward, terminated, truncated, info


class OptimisticResetEnv(VmapEnv):
    """`VmapEnv` with "optimistic resets" (Matthews et al., 2024, Craftax): each batch step resets
    only `resets` fresh envs, and the envs whose episode just ended take them, the k-th of them
    this step the fresh state k mod `resets`.

    gymnax's auto-reset computes a reset for every env at every step and keeps it where an episode
    ended; where a reset costs much more than a step (Craftax generates a world: about 9 steps'
    worth) that reset is most of the time. Each restarted env still begins from a fresh reset;
    only when more than `resets` episodes end on one step do some of them begin from the same
    state. `env` is the single-env stack with `DeferReset` innermost; its `reset` makes the fresh
    states, wrappers included (zeroed episode statistics). Steps that end no episode equal
    `VmapEnv`'s for the same key.
    """

    def __init__(self, env, params, num_envs: int, resets: int):
        super().__init__(env, params, num_envs)
        self.resets = resets

    def step(self, key, state, action):
        obs, state, reward, terminated, truncated, info = super().step(key, state, action)
        fresh_keys = jax.random.split(jax.random.fold_in(key, 1), self.resets)
        fresh = jax.vmap(self.env.reset, in_axes=(0, None))(fresh_keys, self.params)
        done = jnp.logical_or(terminated, truncated)  # (N,)
        slot = (jnp.cumsum(done) - 1) % self.resets  # (N,): which fresh state an ended env takes

        def restart(new, old):  # new (resets, ...), old (N, ...)
            mask = done.reshape(done.shape + (1,) * (old.ndim - 1))
            return jnp.where(mask, new[slot], old)

        obs, state = jax.tree.map(restart, fresh, (obs, state))
        return obs, state, reward, terminated, truncated, info


@struct.dataclass
class RunningMeanStd:
    """Mean and variance of every observation seen so far (Chan et al.'s parallel update)."""

    mean: jax.Array  # obs_shape
    var: jax.Array  # obs_shape
    count: jax.Array  # ()

    @classmethod
    def create(cls, shape):
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.float32(1e-4))

    def update(self, batch: jax.Array) -> RunningMeanStd:
        """Folds a batch of observations, shape (B, *obs_shape), into the statistics."""
        batch_mean, batch_var = batch.mean(axis=0), batch.var(axis=0)
        batch_count = batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        mean = self.mean + delta * batch_count / total
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta**2 * self.count * batch_count / total
        )
        return RunningMeanStd(mean, m2 / total, total)

    def normalize(self, obs: jax.Array, clip: float = 10.0) -> jax.Array:
        return jnp.clip((obs - self.mean) / jnp.sqrt(self.var + 1e-8), -clip, clip)


@struct.dataclass
class NormalizeObservationState:
    env_state: Any
    obs_stats: RunningMeanStd


def restarted_host_env(saved: Any, fresh: Any) -> Any:
    """The env state a resumed run continues from when its envs live on the host (envpool, whose
    games and physics cannot be saved): `fresh`, the state of a reset, with the saved running
    statistics of a `NormalizeObservation` on top, so that the policy keeps seeing its inputs
    scaled as in training. (The first observation after the reset was normalised by the reset's
    own statistics; every later one by the saved ones.)"""
    if isinstance(fresh, NormalizeObservationState):
        return fresh.replace(obs_stats=saved.obs_stats)
    return fresh


class NormalizeObservation:
    """Normalises observations of a `BatchedEnv` by running statistics shared across its envs.

    The statistics live in the env state (`state.obs_stats`), are updated on every reset and step
    with the whole batch, and are saved with checkpoints so that evaluation sees the same inputs.
    `info["final_observation"]` is normalised with the same statistics.
    """

    def __init__(self, env: BatchedEnv):
        self.env = env
        self.num_envs = env.num_envs
        self.observation_space = env.observation_space
        self.action_space = env.action_space

    def reset(self, key):
        obs, env_state = self.env.reset(key)
        stats = RunningMeanStd.create(obs.shape[1:]).update(obs)
        return stats.normalize(obs), NormalizeObservationState(env_state, stats)

    def step(self, key, state: NormalizeObservationState, action):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action
        )
        stats = state.obs_stats.update(obs)
        info = {**info, "final_observation": stats.normalize(info["final_observation"])}
        return (
            stats.normalize(obs),
            NormalizeObservationState(env_state, stats),
            reward,
            terminated,
            truncated,
            info,
        )
