"""The off-policy loop that DQN, DDPG and SAC share: act, store in replay, learn on a schedule.

One update (one row of metrics) is `steps_per_update` env steps, made of training phases. A phase
steps every env `train_frequency / num_envs` times, adding each transition to the replay buffer,
then takes `gradient_steps` gradient steps, each on a batch sampled from the buffer, once learning
has started; then the algorithm may act on the phase's end (DQN refreshes its target network).

Learning starts in the first phase that ends with more than `learning_starts` env steps taken
(`timesteps > learning_starts`, PureJaxRL's rule) and enough transitions stored for a batch.

An algorithm plugs in with an `OffPolicyAgent` (how it acts, one gradient step, optional hooks)
and a learner state of its own (a flax struct dataclass) that has the fields of `ReplayState`;
`make_update` turns them into the `update(state, hp)` of its `Learner`:

    update -> phase (scan) -> env_step (scan), then gradient_phase or skip -> gradient_step (scan)

The schedule fields and their checks are `OffPolicyConfig`'s, which the algorithms' configs derive
from (each sets its own defaults).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from purejaxrl import envs
from purejaxrl.checks import require
from purejaxrl.config import BaseConfig
from purejaxrl.hparams import HParams
from purejaxrl.learner import Metrics, episode_info, episode_metrics, masked_means
from purejaxrl.networks import to_env_action
from purejaxrl.replay import Transition


@dataclass(frozen=True)
class OffPolicyConfig(BaseConfig):
    """The replay schedule of the off-policy algorithms; each algorithm's config sets the defaults."""

    num_envs: int = 1
    """Parallel environments per run."""
    buffer_size: int = 100_000
    """Replay capacity in transitions; the oldest are overwritten."""
    batch_size: int = 256
    """Transitions per gradient step, sampled uniformly from the buffer."""
    learning_starts: int = 1_000
    """Env steps taken before gradient steps begin: a training phase learns once more than
    learning_starts steps were taken (PureJaxRL's rule). Until learning_starts steps DDPG and SAC
    act uniformly at random, DQN epsilon-greedily."""
    train_frequency: int = 1
    """Env steps (all envs together) between training phases; a multiple of num_envs."""
    gradient_steps: int = 1
    """Gradient steps per training phase."""
    steps_per_update: int = 1_000
    """Env steps between two rows of metrics (and progress reports); a multiple of train_frequency."""

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update

    @property
    def env_steps_per_phase(self) -> int:
        """Steps of every env in one training phase."""
        return self.train_frequency // self.num_envs

    @property
    def phases_per_update(self) -> int:
        return self.steps_per_update // self.train_frequency

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require_replay_schedule(self)
        return spec


def require_replay_schedule(config: OffPolicyConfig) -> None:
    """The size and schedule checks of an `OffPolicyConfig` (DQN, DDPG, SAC)."""
    for name in ("num_envs", "buffer_size", "batch_size", "gradient_steps"):
        require(config, name, getattr(config, name) >= 1, "must be >= 1")
    buffer_size = config.buffer_size
    require(
        config, "batch_size", config.batch_size <= buffer_size,
        f"must be <= buffer_size={buffer_size} (a batch is sampled from the buffer)",
    )  # fmt: skip
    require(
        config, "num_envs", config.num_envs <= buffer_size,
        f"must be <= buffer_size={buffer_size} (each env step adds num_envs transitions)",
    )  # fmt: skip
    for name, divisor in (
        ("train_frequency", "num_envs"),
        ("steps_per_update", "train_frequency"),
    ):
        value, by = getattr(config, name), getattr(config, divisor)
        require(
            config, name, value >= 1 and value % by == 0,
            f"must be a positive multiple of {divisor}={by}",
        )  # fmt: skip
    require(
        config, "total_timesteps", config.num_updates >= 1,
        f"must be >= steps_per_update={config.steps_per_update} (one update)",
    )  # fmt: skip
    trained = config.num_updates * config.steps_per_update  # the budget in whole updates
    require(
        config, "learning_starts", 0 <= config.learning_starts < trained,
        f"must be in [0, {trained}) (the budget in whole updates) or no gradient step is taken",
    )  # fmt: skip


def require_bounded_box_actions(config, spec: envs.EnvSpec, message: str) -> None:
    """Requires a one-dimensional action Box with finite bounds (actions are normalised to
    [-1, 1]^d and mapped onto it); `message` says what the algorithm needs."""
    space = spec.action_space
    bounded = jnp.all(jnp.isfinite(jnp.asarray(space.low))) and jnp.all(
        jnp.isfinite(jnp.asarray(space.high))
    )
    require(config, "env_id", len(space.shape) == 1 and bool(bounded), message)


class ReplayState(Protocol):
    """The fields of an algorithm's learner state that the loop reads and writes."""

    buffer: Any  # `replay.BufferState` (or `FrameBufferState`), leaves (buffer_size, ...)
    env_state: Any
    obs: jax.Array  # (N, *obs_shape) current observation of every env
    timesteps: jax.Array  # () int32 env steps taken, all envs together
    key: jax.Array

    def replace(self, **changes) -> ReplayState: ...


def _keep(state, *_):
    return state


def _no_metrics(state, hp) -> Metrics:
    return {}


class OffPolicyAgent(NamedTuple):
    """What an algorithm plugs into the loop; N is num_envs."""

    act: Callable[[Any, HParams, jax.Array], tuple[Any, jax.Array]]
    """(state, hp, key) -> (state, actions (N, ...)) for `state.obs`, as stored in the buffer
    (integers for discrete actions, in [-1, 1]^d for a Box); the state may carry exploration
    state of the algorithm's own (DDPG's noise)."""
    gradient_step: Callable[[Any, HParams, jax.Array], tuple[Any, Metrics]]
    """(state, hp, key) -> (state, metrics): one gradient step on a batch that it samples from
    `state.buffer` with `key` (split for any other randomness); metrics are scalars."""
    after_env_step: Callable[[Any, jax.Array], Any] = _keep
    """(state, done (N,)) -> state, after each env step (DDPG starts a new noise path where an
    episode ended)."""
    after_phase: Callable[[Any, HParams], Any] = _keep
    """(state, hp) -> state, at the end of every training phase, learning or not (DQN's target
    refresh)."""
    update_metrics: Callable[[Any, HParams], Metrics] = _no_metrics
    """(state, hp) -> metrics of its own at the end of an update (DQN's epsilon)."""
    sparse_metrics: tuple[str, ...] = ()
    """Metrics that are NaN on some gradient steps by design (DDPG's delayed actor loss): averaged
    over the steps and phases that have them; a NaN in any other metric shows in its mean."""


def example_transition(obs: jax.Array, action: jax.Array) -> Transition:
    """One transition shaped like those the loop stores (for `buffer.init`).

    Args:
        obs: (N, *obs_shape) the envs' first observations. action: one action, no batch axis.
    """
    return Transition(
        obs=obs[0],
        action=action,
        reward=jnp.zeros(()),
        next_obs=obs[0],
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
    )


def uniform_actions(key: jax.Array, spec: envs.EnvSpec, num_envs: int) -> jax.Array:
    """(N, ...) uniformly random actions as stored: integers in [0, A), or in [-1, 1]^d."""
    if spec.discrete_actions:
        return jax.random.randint(key, (num_envs,), 0, spec.num_actions)
    shape = (num_envs, *spec.action_space.shape)
    return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)


def env_actions(action: jax.Array, spec: envs.EnvSpec) -> jax.Array:
    """Stored actions (N, ...) -> what the env receives: discrete ones as they are, normalised
    ones mapped onto the Box, low + (a + 1) (high - low) / 2."""
    if spec.discrete_actions:
        return action
    space = spec.action_space
    return to_env_action(action, space).reshape((-1, *space.shape))


def make_update(
    config: OffPolicyConfig, env, buffer, spec: envs.EnvSpec, agent: OffPolicyAgent
) -> Callable[[Any, HParams], tuple[Any, Metrics]]:
    """`update(state, hp) -> (state, metrics)`: `steps_per_update` env steps of the loop.

    Args:
        config: the (static view of the) algorithm's config, an `OffPolicyConfig`.
        env: the `envs.BatchedEnv` of num_envs envs. buffer: a `replay.ReplayBuffer` (or
            `FrameReplayBuffer`). spec: the env's `envs.EnvSpec`.
        agent: the algorithm's act and gradient step (`OffPolicyAgent`).

    The metrics are the episode statistics (`learner.episode_metrics`), the mean of each
    gradient-step metric over the phases that learned (NaN if none did), `gradient_steps` taken,
    and the agent's `update_metrics`.
    """
    num_envs, gradient_steps = config.num_envs, config.gradient_steps

    def env_step(state: ReplayState, hp: HParams) -> tuple[ReplayState, dict]:
        """One step of every env; its N transitions go into the buffer. info leaves: (N,)."""
        key, act_key, env_key = jax.random.split(state.key, 3)
        state, action = agent.act(state, hp, act_key)  # (N, ...)
        obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, state.env_state, env_actions(action, spec)
        )
        transition = Transition(
            state.obs, action, reward, info["final_observation"], terminated, truncated
        )
        state = state.replace(
            buffer=buffer.add(state.buffer, transition, info.get("valid")),
            env_state=env_state,
            obs=obs,
            timesteps=state.timesteps + num_envs,
            key=key,
        )
        return agent.after_env_step(state, jnp.logical_or(terminated, truncated)), episode_info(
            info
        )

    def gradient_phase(state: ReplayState, hp: HParams) -> tuple[ReplayState, Metrics]:
        """`gradient_steps` gradient steps; metrics averaged over them, `learned` true."""
        key, *step_keys = jax.random.split(state.key, gradient_steps + 1)
        state, metrics = jax.lax.scan(
            lambda s, k: agent.gradient_step(s, hp, k), state.replace(key=key), jnp.stack(step_keys)
        )  # metrics leaves: (gradient_steps,)
        means = {
            name: jnp.nanmean(value) if name in agent.sparse_metrics else value.mean()
            for name, value in metrics.items()
        }
        return state, {**means, "learned": jnp.bool_(True)}

    def skip(state: ReplayState, hp: HParams) -> tuple[ReplayState, Metrics]:
        """No gradient step (before learning starts): the same metrics, NaN, `learned` false."""
        shapes = jax.eval_shape(agent.gradient_step, state, hp, state.key)[1]
        nan = {name: jnp.full(s.shape, jnp.nan, s.dtype) for name, s in shapes.items()}
        return state, {**nan, "learned": jnp.bool_(False)}

    def phase(state: ReplayState, hp: HParams) -> tuple[ReplayState, tuple[dict, Metrics]]:
        """`train_frequency` env steps, then a gradient phase once learning has started."""
        state, info = jax.lax.scan(
            lambda s, _: env_step(s, hp), state, None, config.env_steps_per_phase
        )  # info leaves: (env_steps_per_phase, N)
        learn = (state.timesteps > config.learning_starts) & buffer.can_sample(
            state.buffer, config.batch_size
        )
        state, metrics = jax.lax.cond(learn, gradient_phase, skip, state, hp)
        return agent.after_phase(state, hp), (info, metrics)

    def update(state: ReplayState, hp: HParams) -> tuple[ReplayState, Metrics]:
        state, (info, metrics) = jax.lax.scan(
            lambda s, _: phase(s, hp), state, None, config.phases_per_update
        )
        info = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), info)  # (T, N)
        learned = metrics.pop("learned")  # (phases,) whether each phase took gradient steps
        sparse = {name: jnp.nanmean(metrics.pop(name)) for name in agent.sparse_metrics}
        return state, {
            **episode_metrics(info),
            **masked_means(metrics, learned),
            **sparse,
            "gradient_steps": learned.sum() * gradient_steps,
            **agent.update_metrics(state, hp),
        }

    return update
