"""MuJoCo tasks (gym's v4: HalfCheetah-v4, Hopper-v4, Walker2d-v4, Ant-v4, ...) through envpool, as a
`BatchedEnv` that runs inside `jax.jit`.

    env = envs.make_batched("HalfCheetah-v4", 8, seed=0)   # a MujocoEnv
    obs, state = env.reset(key)                             # obs (8, 17) float32
    obs, state, reward, terminated, truncated, info = env.step(key, state, action)  # action (8, 6)

envpool's MuJoCo tasks are gym's v4 tasks (the same physics, rewards and limits), so figures
published for those (CleanRL's, SB3's) apply. envpool steps them in C++ threads on the host.

**How a step reaches envpool.** envpool's XLA interface (`pool.xla()`, which `envs.atari` uses)
works for MuJoCo inside `jax.jit`, but its custom call only takes float64 actions, and JAX makes
float64 arrays only with `jax_enable_x64` on, a switch for the whole program that would also turn
every network, optimiser state and replay buffer into float64. Switching x64 on only around the
call, inside the trace, does run (benchmarks/mujoco_throughput.py times it), but only if
`pool.xla()` was itself called with x64 on: otherwise envpool declares float32 observations and
writes float64 ones into them (garbage, past the buffer's end); it also rests on changing a
global switch in the middle of a trace, and calling `xla()` before a first reset crashed. So a
step is a host callback instead (`io_callback`): the float32 actions are clipped to the action
bounds in JAX, cast to float64 on the host and given to envpool's ordinary `step`; its float64
observations come back as float32. The program keeps its float32 arithmetic; the callback costs
a fixed time per step (about 0.7 ms here, `benchmarks/mujoco_throughput.py`), so more envs per
run amortise it. Every step passes a counter (`MujocoState.clock`) through the callback, so the
host sees the steps in program order.

**Semantics are gymnax's, with no dummy steps.** envpool resets an env on the step after its
episode ended (ignoring that step's action). Here an env whose step ends an episode is reset in
the same callback (envpool's `reset` of those env ids, which draws the same start as envpool's
own reset would), so the returned `obs` is the new episode's first observation and
`info["final_observation"]` the finished episode's last one, to bootstrap from at a time limit.
`terminated` (the body fell or left its healthy range: Hopper, Walker2d, Ant, Humanoid) and
`truncated` (the episode limit, 1000 steps for most tasks) are envpool's and never both true.
`info` holds the episode statistics as `wrappers.EpisodeStatistics` does.

Runs vmapped together share one pool of runs x num_envs envs (`hosted.over_runs`), run r playing
the envs of a single run with seed `seed + r * num_envs`, as Atari's do.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces
from jax.experimental import io_callback

from .hosted import EnvOptionError, HostedEnv, OptionRule, import_envpool, over_runs

INSTALL_HINT = (
    "MuJoCo needs envpool: pip install 'purejaxrl[mujoco]' (envpool >= 1.2, Python >= 3.11)"
)

MUJOCO_IDS = (
    "Ant-v4", "HalfCheetah-v4", "Hopper-v4", "Humanoid-v4", "HumanoidStandup-v4",
    "InvertedDoublePendulum-v4", "InvertedPendulum-v4", "Pusher-v4", "Reacher-v4", "Swimmer-v4",
    "Walker2d-v4",
)  # fmt: skip
"""gym's v4 MuJoCo tasks, as envpool names them (a test checks envpool has each). Known without
importing envpool, so other ids never import it."""

RESERVED_OPTIONS = (
    "num_envs", "batch_size", "seed", "env_seed", "base_path", "max_num_players",
    "gym_reset_return_info", "num_threads", "thread_affinity_offset", "reward_threshold",
    "post_constraint", "xml_file", "gymnasium_v5_render_camera", "frame_stack",
    "constraint_obs_dim",
)  # fmt: skip
"""envpool config fields a user may not set: the adapter sets them itself, or they change the
observation's shape or model file (frame_stack, constraint_obs_dim, xml_file), or do nothing."""


class MujocoExtraMissingError(ImportError):
    """A MuJoCo id was asked for but envpool is not installed."""


def _envpool():
    return import_envpool(MujocoExtraMissingError, INSTALL_HINT)


def is_mujoco(env_id: str) -> bool:
    """Whether `env_id` is one of envpool's gym v4 MuJoCo tasks (without importing envpool)."""
    return env_id in MUJOCO_IDS


def check_installed() -> None:
    """Raises `MujocoExtraMissingError` (naming the extra) when envpool is not installed."""
    _envpool()


def mujoco_ids() -> tuple[str, ...]:
    """`MUJOCO_IDS` when envpool is installed, else empty."""
    try:
        _envpool()
    except MujocoExtraMissingError:
        return ()
    return MUJOCO_IDS


@functools.cache
def _defaults(env_id: str):
    return _envpool().make_spec(env_id).config


@functools.cache
def option_rules(env_id: str) -> dict[str, OptionRule]:
    """Every option a user may set on `env_id` (its envpool config's fields, less
    `RESERVED_OPTIONS`) and what it takes, read from the type of its default: a bool, a whole
    number >= 1 (max_episode_steps, frame_skip), or a finite number (weights, ranges, noise)."""
    config = _defaults(env_id)
    rules = {}
    for name in config._fields:
        default = getattr(config, name)
        if name in RESERVED_OPTIONS:
            continue
        if isinstance(default, bool):
            rules[name] = OptionRule("bool")
        elif isinstance(default, int):
            rules[name] = OptionRule("int", 1)
        elif isinstance(default, float):
            rules[name] = OptionRule("real")
    return rules


def checked_spec(env_id: str, options: dict[str, Any]):
    """envpool's spec of `env_id` with `options`, each checked against `option_rules`; starts
    no pool.

    Raises:
        EnvOptionError: one line naming the first bad option, its value and what is allowed.
    """
    rules = option_rules(env_id)
    for name, value in options.items():
        if name not in rules:
            raise EnvOptionError(
                f"unknown {env_id} option {name!r}; allowed: {', '.join(sorted(rules))}"
            )
        if not rules[name].allows(value):
            raise EnvOptionError(f"{env_id} option {name}={value!r}: {rules[name].describe()}")
    return _envpool().make_spec(env_id, **options)


def mujoco_spaces(env_id: str, **options) -> tuple[spaces.Box, spaces.Box, int]:
    """(observation space, action space, episode limit) of `env_id` with `options`, from
    envpool's spec (no pool is started); float32, as the adapter returns them."""
    config = checked_spec(env_id, options)
    obs, action = config.observation_space, config.action_space
    observation = spaces.Box(-jnp.inf, jnp.inf, tuple(obs.shape), jnp.float32)
    action = spaces.Box(
        jnp.asarray(action.low, jnp.float32),
        jnp.asarray(action.high, jnp.float32),
        tuple(action.shape),
        jnp.float32,
    )
    return observation, action, int(config.config.max_episode_steps)


@struct.dataclass
class MujocoState:
    """The adapter's state of one run's envs; under `jax.vmap` over runs every leaf gains a
    leading (runs,) axis (the clock is then the same in every row)."""

    clock: jax.Array  # () int32, pool steps taken: through every callback, to keep them in order
    episode_return: jax.Array  # (N,) float32, return of the running episode so far
    episode_length: jax.Array  # (N,) int32, steps of the running episode so far


class MujocoEnv(HostedEnv):
    """`num_envs` envpool MuJoCo envs per run as one `BatchedEnv` (see the module docstring), for
    one run or for `runs` runs trained together (vmapped over exactly `runs`, as
    `envs.atari.AtariEnv`).

    Args:
        env_id: one of `MUJOCO_IDS`, e.g. "HalfCheetah-v4".
        num_envs: envs stepped together in each run.
        seed: envpool's seed; env j of the pool starts from `seed + j` (the JAX key is unused).
        runs: runs sharing the pool, vmapped over together.
        **options: envpool options of the task (`max_episode_steps`, `reset_noise_scale`,
            `ctrl_cost_weight`, ...; `option_rules`).
    """

    vmappable = False
    """Envs are stepped on the host: one env cannot be vmapped (over episodes, say); only whole
    runs can, as above."""

    def __init__(self, env_id: str, num_envs: int = 1, seed: int = 0, runs: int = 1, **options):
        if not is_mujoco(env_id):
            raise ValueError(f"{env_id!r} is not an envpool MuJoCo id; known: {MUJOCO_IDS}")
        if runs < 1 or num_envs < 1:
            raise ValueError(f"runs={runs}, num_envs={num_envs}: both must be >= 1")
        _envpool()
        self.observation_space, self.action_space, self.episode_limit = mujoco_spaces(
            env_id, **options
        )
        self.env_id, self.num_envs, self.seed, self.runs = env_id, num_envs, seed, runs
        self.options = options
        self._pool = None
        self._reset = over_runs(self._reset_runs, runs, env_id)
        self._step = over_runs(self._step_runs, runs, env_id)

    @property
    def pool(self):
        """envpool's pool of `runs` x `num_envs` envs, started on first use."""
        if self._pool is None:
            self._pool = _envpool().make(
                self.env_id, env_type="gymnasium", num_envs=self.runs * self.num_envs,
                seed=self.seed, **self.options,
            )  # fmt: skip
        return self._pool

    def _host_reset(self) -> np.ndarray:
        obs, _ = self.pool.reset()
        return obs.astype(np.float32)

    def _host_step(self, action: np.ndarray, clock: np.ndarray):
        """One envpool step of the whole pool, then a reset of the envs it ended."""
        obs, reward, terminated, truncated, _ = self.pool.step(np.asarray(action, np.float64))
        final = obs.astype(np.float32)
        obs = final.copy()
        done = terminated | truncated
        if done.any():
            ended = np.flatnonzero(done)
            first, _ = self.pool.reset(ended)
            obs[ended] = first
        return obs, final, reward.astype(np.float32), terminated, truncated, clock + 1

    def _reset_runs(self, key: jax.Array) -> tuple[jax.Array, MujocoState]:
        del key
        runs, n = self.runs, self.num_envs
        shape = jax.ShapeDtypeStruct((runs * n, *self.observation_space.shape), jnp.float32)
        obs = io_callback(self._host_reset, shape)
        state = MujocoState(
            jnp.zeros((runs,), jnp.int32),
            jnp.zeros((runs, n), jnp.float32),
            jnp.zeros((runs, n), jnp.int32),
        )
        return obs.reshape(runs, n, -1), state

    def _step_runs(self, state: MujocoState, action: jax.Array):
        runs, n = self.runs, self.num_envs
        space = self.action_space
        action = jnp.clip(action.reshape(runs * n, -1).astype(jnp.float32), space.low, space.high)
        obs_shape = jax.ShapeDtypeStruct((runs * n, *self.observation_space.shape), jnp.float32)
        per_env = lambda dtype: jax.ShapeDtypeStruct((runs * n,), dtype)
        shapes = (
            obs_shape, obs_shape, per_env(jnp.float32), per_env(jnp.bool_), per_env(jnp.bool_),
            jax.ShapeDtypeStruct((), jnp.int32),
        )  # fmt: skip
        obs, final, reward, terminated, truncated, clock = io_callback(
            self._host_step, shapes, action, state.clock[0]
        )
        unfold = lambda x: x.reshape(runs, n, *x.shape[1:])  # (R * N, ...) -> (R, N, ...)
        obs, final, reward, terminated, truncated = map(
            unfold, (obs, final, reward, terminated, truncated)
        )
        done = terminated | truncated
        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        info = {
            "final_observation": final,
            "returned_episode": done,
            "episode_return": episode_return,
            "episode_length": episode_length,
        }
        state = MujocoState(
            jnp.broadcast_to(clock, (runs,)),
            jnp.where(done, 0.0, episode_return),
            jnp.where(done, 0, episode_length),
        )
        return obs, state, reward, terminated, truncated, info
