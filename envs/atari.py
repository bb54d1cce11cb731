"""Atari 2600 games through envpool, as a `BatchedEnv` that runs inside `jax.jit`.

envpool steps its games in C++ threads on the host. Its XLA interface (`env.xla()`) turns `step` into
a custom call that a jitted training loop can contain, so a whole training run stays one compiled
function; the reset at the start of a run is a host callback. envpool's call has no batching rule:
an `AtariEnv` of `runs` runs gives its `reset` and `step` one (`jax.custom_batching.custom_vmap`),
which folds the vmapped run axis into the env axis of one pool of runs x num_envs games, so the
runner's `jax.vmap` over seeds and grid points steps every run's games in one call. Run r plays
the games that a single run with seed `seed + r * num_envs` plays (`AtariEnv`).

The adapter gives algorithms gymnax semantics on top of envpool's:

- envpool resets NEXT_STEP: the step after a done step ignores its action and returns the reset
  observation with reward 0. That step is a dummy transition, flagged `info["valid"] = False`;
  algorithms leave it out of their losses and replay buffers. Every other step is valid.
- Nothing is reset inside a step, so `info["final_observation"]` is the returned observation.
- `terminated` and `truncated` are envpool's: with episodic life on (the training default), losing
  a life terminates, which is the usual training signal.
- Episode statistics describe whole games, as papers report them: `info["episode_return"]` sums the
  unclipped rewards across lives, and `info["returned_episode"]` is true at game over or at the
  time limit, never at a lost life.

    env = AtariEnv("Pong-v5", num_envs=8, seed=0)          # or envs.make_batched("Pong-v5", 8)
    obs, state = env.reset(key)                             # obs (8, 4, 84, 84) uint8
    obs, state, reward, terminated, truncated, info = env.step(key, state, action)

    env = AtariEnv("Pong-v5", num_envs=8, seed=0, runs=4)  # 4 runs, one pool of 32 games
    obs, state = jax.vmap(env.reset)(keys)                  # keys (4,); obs (4, 8, 4, 84, 84)
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
from .hosted import NotVmappedError as NotVmappedError  # where it was defined before

INSTALL_HINT = (
    "Atari needs envpool: pip install 'purejaxrl[atari]' (envpool >= 1.2, Python >= 3.11)"
)

TRAINING_DEFAULTS: dict[str, Any] = {"episodic_life": True, "reward_clip": True}
"""Applied on top of envpool's own defaults (4 stacked 84x84 grey frames, frame skip 4, up to 30
no-ops at reset, no sticky actions, minimal action set, 27,000 steps = 108,000 frames per game)."""

RESERVED_OPTIONS = (
    "num_envs", "batch_size", "seed", "env_seed", "base_path", "max_num_players", "task",
    "gym_reset_return_info", "num_threads", "thread_affinity_offset",
)  # fmt: skip
"""envpool config fields the adapter sets itself."""


class AtariExtraMissingError(ImportError):
    """An Atari id was asked for but envpool is not installed."""


def _envpool():
    return import_envpool(AtariExtraMissingError, INSTALL_HINT)


def looks_like_atari(env_id: str) -> bool:
    """Whether `env_id` names an Atari game in envpool's style (`Pong-v5`), without importing it."""
    return env_id.endswith("-v5")


@functools.cache
def atari_ids() -> tuple[str, ...]:
    """Every envpool Atari id (`Pong-v5`, `Breakout-v5`, ...); empty when envpool is missing."""
    try:
        envpool = _envpool()
    except AtariExtraMissingError:
        return ()
    specs = envpool.registration.registry.specs
    return tuple(env_id for env_id, entry in specs.items() if entry[0] == "envpool.atari")


OPTION_RULES: dict[str, OptionRule] = {
    "max_episode_steps": OptionRule("int", 1, " (agent steps before truncation)"),
    "stack_num": OptionRule("int", 1, " (frames per observation)"),
    "frame_skip": OptionRule("int", 1, " (emulator frames per agent step)"),
    "noop_max": OptionRule("int", 1, " (envpool crashes on 0 or less)"),
    "img_height": OptionRule("int", 1, " (pixels)"),
    "img_width": OptionRule("int", 1, " (pixels)"),
    "mode": OptionRule("int", -1, " (-1: the game's default; envpool checks the game has it)"),
    "difficulty": OptionRule(
        "int", -1, " (-1: the game's default; envpool checks the game has it)"
    ),
    "repeat_action_probability": OptionRule("probability"),
    "episodic_life": OptionRule("bool"),
    "zero_discount_on_life_loss": OptionRule("bool"),
    "reward_clip": OptionRule("bool"),
    "use_fire_reset": OptionRule("bool"),
    "full_action_space": OptionRule("bool"),
    "use_inter_area_resize": OptionRule("bool"),
    "gray_scale": OptionRule("bool"),
}
"""Every envpool Atari option a user may set and the values it takes. envpool itself checks none:
`noop_max=-5` crashes the process when a pool starts, `stack_num=0` gives empty observations,
`frame_skip=-1` or `repeat_action_probability=1.5` train on something else than asked."""


@functools.cache
def atari_options() -> tuple[str, ...]:
    """The envpool options a user may set (`episodic_life`, `reward_clip`, `stack_num`, ...): those
    of envpool's Atari config that `OPTION_RULES` knows how to check."""
    fields = _envpool().make_spec("Pong-v5").config._fields
    return tuple(name for name in fields if name not in RESERVED_OPTIONS and name in OPTION_RULES)


def check_options(options: dict[str, Any]) -> None:
    """Checks every option's name, type and range; touches no envpool pool.

    Raises:
        EnvOptionError: one line naming the first bad option, its value and what is allowed.
    """
    allowed = atari_options()
    for name, value in options.items():
        if name not in allowed:
            raise EnvOptionError(f"unknown Atari option {name!r}; allowed: {', '.join(allowed)}")
        rule = OPTION_RULES[name]
        if not rule.allows(value):
            raise EnvOptionError(f"Atari option {name}={value!r}: {rule.describe()}")


def checked_spec(env_id: str, options: dict[str, Any]):
    """envpool's spec of `env_id` with `options` on top of `TRAINING_DEFAULTS`, after
    `check_options`; the game-specific checks envpool makes (mode, difficulty) as EnvOptionError.
    Starts no pool."""
    check_options(options)
    try:
        return _envpool().make_spec(env_id, **{**TRAINING_DEFAULTS, **options})
    except RuntimeError as error:  # "Invalid game mode requested", ...
        given = ", ".join(f"{k}={v!r}" for k, v in options.items() if k in ("mode", "difficulty"))
        raise EnvOptionError(
            f"Atari options {given or options}: envpool refused: {error}"
        ) from None


def atari_spaces(env_id: str, **options) -> tuple[spaces.Box, spaces.Discrete, int]:
    """(observation space, action space, episode limit in agent steps) of `env_id` built with
    `options` on top of `TRAINING_DEFAULTS`, read from envpool's spec: no pool is started.

    Raises:
        EnvOptionError: an option envpool's Atari config does not have, or a value it does not
            allow (`OPTION_RULES`).
    """
    config = checked_spec(env_id, options)
    observation = spaces.Box(0, 255, tuple(config.observation_space.shape), jnp.uint8)
    action = spaces.Discrete(int(config.action_space.n))
    return observation, action, int(config.config.max_episode_steps)


@struct.dataclass
class AtariState:
    """The adapter's state of one run's games; under `jax.vmap` over runs every leaf gains a
    leading (runs,) axis (the handle is then the same in every row)."""

    handle: jax.Array  # (8,) uint8, envpool's handle, threaded through every step for ordering
    ready: jax.Array  # (N,) bool, false right after a done step: envpool's next step is a reset
    episode_return: jax.Array  # (N,) float32, unclipped return of the running game, all lives
    episode_length: jax.Array  # (N,) int32, valid steps of the running game, all lives


class AtariEnv(HostedEnv):
    """`num_envs` envpool Atari games per run as one `BatchedEnv` (see the module docstring), for
    one run or for `runs` runs trained together.

    With `runs` > 1, a function that resets or steps this env (a learner's `init` or `update`)
    must be `jax.vmap`ped over exactly `runs` runs (one level of vmap): the batching rule of
    `reset` and `step` folds the run axis into envpool's env axis, so all runs reset or step one
    pool of `runs` x `num_envs` games in one call, and run r plays games r * num_envs to
    (r + 1) * num_envs - 1 of it. envpool seeds game j of a pool with `seed + j`, so run r's games
    are exactly those of a single run with seed `seed + r * num_envs`. The pool starts when the
    first program that uses it is traced.

    Args:
        env_id: an envpool Atari id, e.g. "Pong-v5".
        num_envs: games stepped together in each run.
        seed: envpool's seed (its no-ops and sticky actions draw from it; the JAX key does not).
        runs: runs sharing the pool, vmapped over together.
        **options: envpool Atari options (`episodic_life`, `reward_clip`, `stack_num`, `noop_max`,
            `repeat_action_probability`, `full_action_space`, `max_episode_steps`, ...), on top of
            `TRAINING_DEFAULTS`.
    """

    vmappable = False
    """Games are stepped on the host: one env cannot be vmapped (over episodes, say); only whole
    runs can, as above."""

    def __init__(self, env_id: str, num_envs: int = 1, seed: int = 0, runs: int = 1, **options):
        _envpool()
        if env_id not in atari_ids():
            raise ValueError(f"{env_id!r} is not an envpool Atari id")
        if runs < 1:
            raise ValueError(f"runs={runs}: must be >= 1")
        config = checked_spec(env_id, options)  # before any pool: envpool crashes on some values
        self.env_id, self.num_envs, self.seed, self.runs = env_id, num_envs, seed, runs
        self.options = {**TRAINING_DEFAULTS, **options}
        shape = tuple(config.observation_space.shape)
        self.observation_space = spaces.Box(0, 255, shape, jnp.uint8)
        self.action_space = spaces.Discrete(int(config.action_space.n))
        self._started = None
        self._reset = over_runs(self._reset_runs, runs, env_id)
        self._step = over_runs(self._step_runs, runs, env_id)

    def _start(self) -> tuple[Any, np.ndarray, Any]:
        """(pool, handle, XLA step): envpool's pool of `runs` x `num_envs` games, started when a
        program that uses it is first traced."""
        if self._started is None:
            pool = _envpool().make(
                self.env_id, env_type="gymnasium", num_envs=self.runs * self.num_envs,
                seed=self.seed, **self.options,
            )  # fmt: skip
            handle, _, _, xla_step = pool.xla()
            self._started = (pool, handle, xla_step)
        return self._started

    @property
    def pool(self):
        """envpool's pool of `runs` x `num_envs` games (started on first use)."""
        return self._start()[0]

    def _host_reset(self):
        pool, handle, _ = self._start()
        obs, _ = pool.reset()
        return obs, handle

    def _reset_runs(self, key: jax.Array) -> tuple[jax.Array, AtariState]:
        del key
        runs, n = self.runs, self.num_envs
        _, handle, _ = self._start()
        shapes = (
            jax.ShapeDtypeStruct((runs * n, *self.observation_space.shape), jnp.uint8),
            jax.ShapeDtypeStruct(handle.shape, handle.dtype),
        )
        # The handle comes back from the callback so that every later step depends on the reset.
        obs, handle = io_callback(self._host_reset, shapes)
        state = AtariState(
            jnp.broadcast_to(handle, (runs, *handle.shape)),
            jnp.ones((runs, n), bool),
            jnp.zeros((runs, n), jnp.float32),
            jnp.zeros((runs, n), jnp.int32),
        )
        return obs.reshape(runs, n, *obs.shape[1:]), state

    def _step_runs(self, state: AtariState, action: jax.Array):
        runs, n = self.runs, self.num_envs
        _, _, xla_step = self._start()
        fold = lambda x: x.reshape(runs * n, *x.shape[2:])  # (R, N, ...) -> (R * N, ...)
        handle, (obs, reward, terminated, truncated, info) = xla_step(
            state.handle[0], fold(action).astype(jnp.int32)
        )
        ready, episode_return, episode_length = map(
            fold, (state.ready, state.episode_return, state.episode_length)
        )
        valid = ready  # envpool ignored the action of a game that was done: a dummy step
        terminated, truncated = terminated.astype(bool), truncated.astype(bool)
        game_over = valid & (info["terminated"].astype(bool) | truncated)
        episode_return = episode_return + jnp.where(valid, info["reward"], 0.0)
        episode_length = episode_length + valid.astype(jnp.int32)
        info = {
            "final_observation": obs,
            "valid": valid,
            "returned_episode": game_over,
            "episode_return": episode_return,
            "episode_length": episode_length,
            "lives": info["lives"],
        }
        unfold = lambda x: x.reshape(runs, n, *x.shape[1:])  # (R * N, ...) -> (R, N, ...)
        state = AtariState(
            jnp.broadcast_to(handle, (runs, *handle.shape)),
            unfold(~(terminated | truncated)),
            unfold(jnp.where(game_over, 0.0, episode_return)),
            unfold(jnp.where(game_over, 0, episode_length)),
        )
        obs, reward, terminated, truncated, info = jax.tree.map(
            unfold, (obs, reward.astype(jnp.float32), terminated, truncated, info)
        )
        return obs, state, reward, terminated, truncated, info
