"""Every environment id in one place: `make`, the facts algorithms need (`spec`), and `make_batched`.

    spec = envs.spec("CartPole-v1")          # spaces, discrete or not, vmappable, episode limit
    env = envs.make_batched(spec, 4)         # the training stack, 4 envs stepped together
    obs, state = env.reset(key)

An `EnvSpec` is computed without stepping anything, and for Atari without starting an envpool
pool, so config checks can read it freely. JAX-native environments (gymnax's, the probes, the
gridworlds) are stateless objects: `make` builds each (id, options) once and hands the same object
back afterwards.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import gymnax
import jax
from gymnax.environments import spaces

from . import atari, mujoco, suites
from .atari import EnvOptionError
from .boardgames import BOARD_GAMES, VersusRandom
from .gridworld import Gridworld, gridworld_ids
from .probes import PROBES, make_probe
from .suites import SuiteEnv, split_id
from .wrappers import (
    ClipAction,
    DeferReset,
    EpisodeStatistics,
    FlattenObservation,
    KeepObservation,
    NormalizeObservation,
    OptimisticResetEnv,
    VmapEnv,
)

Suite = Literal[
    "gymnax",
    "probe",
    "gridworld",
    "atari",
    "pgx",
    "mujoco",
    "craftax",
    "xminigrid",
    "jumanji",
    "playground",
]


class UnknownEnvironmentError(ValueError):
    """Raised for an env id that no registry knows."""


class BatchedEnv(Protocol):
    """What algorithms see: `num_envs` environments stepped together, gymnax 1.0 semantics.

    `reset(key) -> (obs[N, ...], state)` and
    `step(key, state, action[N, ...]) -> (obs, state, reward[N], terminated[N], truncated[N], info)`
    with auto-reset inside `step` and the pre-reset observation in `info["final_observation"]`.
    `observation_space` and `action_space` describe a single env. `info` always holds the episode
    statistics (`returned_episode`, `episode_return`, `episode_length`), and `valid` where some
    steps are dummies (Atari).
    """

    num_envs: int
    observation_space: spaces.Space
    action_space: spaces.Space

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]: ...

    def step(self, key: jax.Array, state: Any, action: jax.Array) -> tuple: ...


def registered_ids() -> list[str]:
    """Every environment id that `make` accepts: gymnax's, our own (probes, gridworlds) and, with
    envpool installed (the `atari` or `mujoco` extra), its Atari games and MuJoCo tasks. The JAX
    suites' ids (`craftax:...`, `xminigrid:...`, `jumanji:...`, `playground:...`, `envs.suites`)
    are not listed:
    listing them would import every suite."""
    return (
        list(gymnax.registered_envs)
        + list(PROBES)
        + list(gridworld_ids())
        + list(BOARD_GAMES)
        + list(atari.atari_ids())
        + list(mujoco.mujoco_ids())
    )


def _envpool_game(env_id: str) -> bool:
    """Whether envpool serves `env_id` (it is installed and lists it); imports envpool only for
    ids ending in `-v5`."""
    return atari.looks_like_atari(env_id) and env_id in atari.atari_ids()


def is_atari(env_id: str) -> bool:
    """Whether `env_id` is an Atari game served by envpool (true for `Pong-v5` even without envpool).

    Every envpool Atari id ends in `-v5` (`atari.looks_like_atari`; a test checks it), so any other
    id is answered without importing envpool, which takes 0.6 s.
    """
    return atari.looks_like_atari(env_id) and (
        env_id in atari.atari_ids() or env_id not in gymnax.registered_envs
    )


def suite(env_id: str) -> Suite:
    """Which family `env_id` belongs to; algorithms choose per-suite defaults from it."""
    parts = split_id(env_id)
    if parts is not None:
        return parts[0]
    if env_id in PROBES:
        return "probe"
    if env_id in gridworld_ids():
        return "gridworld"
    if env_id in BOARD_GAMES:
        return "pgx"
    if mujoco.is_mujoco(env_id):
        return "mujoco"
    return "atari" if is_atari(env_id) else "gymnax"


def check_env_id(env_id: str) -> None:
    """Raises for an id `make` would refuse, without building the environment.

    Raises:
        AtariExtraMissingError: an Atari id (`*-v5`) while envpool is not installed.
        MujocoExtraMissingError: a MuJoCo id (`envs.mujoco.MUJOCO_IDS`), the same.
        SuiteExtraMissingError: a suite id (`craftax:...`) while the suite is not installed.
        UnknownEnvironmentError: the id is not registered; the message lists the closest ids.
        UnsupportedSuiteIdError: a suite's id that the adapter does not serve (`envs.suites`).
    """
    if split_id(env_id) is not None:
        return _check_suite_id(env_id)
    jax_ids = (gymnax.registered_envs, PROBES, gridworld_ids(), BOARD_GAMES)
    if any(env_id in ids for ids in jax_ids) or _envpool_game(env_id):
        return
    if mujoco.is_mujoco(env_id):
        mujoco.check_installed()
        return
    if atari.looks_like_atari(env_id) and not atari.atari_ids():
        raise atari.AtariExtraMissingError(f"env id {env_id!r}: {atari.INSTALL_HINT}")
    ids = registered_ids()
    close = difflib.get_close_matches(env_id, ids, n=5, cutoff=0.4)
    hint = f"closest: {', '.join(close)}" if close else f"known ids: {', '.join(sorted(ids))}"
    raise UnknownEnvironmentError(
        f"unknown env id {env_id!r}; {hint} (and the JAX suites' ids: craftax:<id>, "
        "xminigrid:<id>, jumanji:<id>, playground:<id>)"
    )


def _check_suite_id(env_id: str) -> None:
    """`check_env_id` for a suite id: imports that suite only, and builds the env once."""
    suite_name, name = split_id(env_id)
    ids = suites.suite_ids(suite_name, env_id)
    if name not in ids:
        close = difflib.get_close_matches(name, ids, n=5, cutoff=0.4)
        hint = f"closest: {', '.join(close)}" if close else f"its ids: {', '.join(ids)}"
        raise UnknownEnvironmentError(f"unknown env id {env_id!r}; {suite_name} {hint}")
    _stateless(env_id, ())  # raises UnsupportedSuiteIdError for an id the adapter does not serve


def _construct(env_id: str, kwargs: dict):
    """Builds one environment: the only place an environment object (or envpool pool) is made."""
    if split_id(env_id) is not None:  # a JAX suite's env through the adapter (`envs.suites`)
        env = SuiteEnv(env_id, **kwargs)
        return env, env.default_params
    if env_id in gridworld_ids():
        name, slip = gridworld_ids()[env_id]
        env = Gridworld(name, **{"slip": slip, **kwargs})
        return env, env.default_params
    if env_id in BOARD_GAMES:  # two-player pgx games, here against a random player
        env = VersusRandom(env_id, **kwargs)
        return env, env.default_params
    if env_id in PROBES:
        kind, continuous = PROBES[env_id]
        env = make_probe(kind, continuous, **kwargs)
        return env, env.default_params
    if _envpool_game(env_id):
        return atari.AtariEnv(env_id, **kwargs), None
    if mujoco.is_mujoco(env_id):
        return mujoco.MujocoEnv(env_id, **kwargs), None
    return gymnax.make(env_id, **kwargs)


@functools.lru_cache(maxsize=64)
def _stateless(env_id: str, frozen_kwargs: tuple):
    return _construct(env_id, dict(frozen_kwargs))


def make(env_id: str, **kwargs):
    """Build an environment and its default parameters.

    Args:
        env_id: a registered id, e.g. "CartPole-v1", "Pendulum-v1" or (with envpool) "Pong-v5".
        **kwargs: passed to the environment's constructor. For Atari and MuJoCo: `num_envs`,
            `seed`, `runs` and envpool options (see `envs.atari.AtariEnv`, `envs.mujoco.MujocoEnv`).

    Returns:
        (env, params): a gymnax `Environment` and its `EnvParams`; for Atari (MuJoCo) an already batched
        `AtariEnv` (`MujocoEnv`) and None (envpool keeps its configuration itself). JAX-native environments
        are stateless: the same (id, kwargs) gives the same object.

    Raises:
        UnknownEnvironmentError, AtariExtraMissingError: see `check_env_id`.
    """
    check_env_id(env_id)
    if _envpool_game(env_id) or mujoco.is_mujoco(env_id):  # host envs each own a pool
        return _construct(env_id, kwargs)
    try:
        return _stateless(env_id, tuple(sorted(kwargs.items())))
    except TypeError as error:
        if "unhashable" not in str(error):
            raise
        return _construct(env_id, kwargs)


@dataclass(frozen=True)
class EnvSpec:
    """What algorithms and config checks need to know about an environment, before building it.

    The spaces are those of one env of the training stack (`make_batched`): observations with
    more than one dimension are flattened, except Atari's stacked frames.
    """

    env_id: str
    suite: Suite
    observation_space: spaces.Space
    action_space: spaces.Space
    vmappable: bool
    """False for envs stepped on the host (envpool): a single env cannot be vmapped. Whole runs
    still can, `runs` at a time (see `runs`)."""
    episode_limit: int
    """Steps after which an episode is truncated; 0 if the env sets none."""
    options: tuple[tuple[str, Any], ...] = ()
    """Options the env is built with (envpool's for Atari), as sorted (name, value) pairs."""
    seed: int = 0
    """Seed of host-side envs (envpool draws its randomness from it); JAX envs use the key."""
    runs: int = 1
    """Runs that train together, vmapped over one env (the runner sets its run count here). A
    host-side env (Atari) steps one envpool pool of runs x num_envs games for all of them, run r
    with seed `seed + r * num_envs` (`envs.atari.AtariEnv`); JAX envs ignore it."""

    @property
    def discrete_actions(self) -> bool:
        return isinstance(self.action_space, spaces.Discrete)

    @property
    def num_actions(self) -> int:
        """Actions of a discrete action space."""
        return int(self.action_space.n)

    @property
    def tabular(self) -> bool:
        """Observations are integer state indices (the gridworlds)."""
        return isinstance(self.observation_space, spaces.Discrete)

    @property
    def vector_observations(self) -> bool:
        """Observations are real vectors, as MLPs take them."""
        return isinstance(self.observation_space, spaces.Box) and self.observation_ndim <= 1

    @property
    def image_observations(self) -> bool:
        """Observations are stacks of frames (C, H, W), as CNNs take them (Atari)."""
        return isinstance(self.observation_space, spaces.Box) and self.observation_ndim == 3

    @property
    def observation_ndim(self) -> int:
        return len(self.observation_space.shape)


def spec(env_id: str, *, seed: int = 0, **options) -> EnvSpec:
    """The `EnvSpec` of `env_id` built with `options`; builds no envpool pool.

    Raises:
        UnknownEnvironmentError, AtariExtraMissingError, MujocoExtraMissingError: see
            `check_env_id`.
        EnvOptionError: an option the env does not take (JAX envs take `obs_keep` and their
            parameters' fields, see `jax_env_options`; a suite's env also its own constructor's
            options, see `_jax_env`), or a value it does not allow (`envs.atari.OPTION_RULES`,
            `envs.mujoco.option_rules`), in one line.
    """
    check_env_id(env_id)
    frozen = tuple(sorted(options.items()))
    if is_atari(env_id):
        observation_space, action_space, limit = atari.atari_spaces(env_id, **options)
        vmappable = atari.AtariEnv.vmappable  # one pool for all runs, no vmap of one env
        return EnvSpec(
            env_id, "atari", observation_space, action_space, vmappable, limit, frozen, seed
        )
    if mujoco.is_mujoco(env_id):
        observation_space, action_space, limit = mujoco.mujoco_spaces(env_id, **options)
        vmappable = mujoco.MujocoEnv.vmappable
        return EnvSpec(
            env_id, "mujoco", observation_space, action_space, vmappable, limit, frozen, seed
        )
    env, params, options = _jax_env(env_id, options)
    stack = _training_stack(env, params, flatten=True, **jax_env_options(env, params, options))
    params = env_parameters(params, options)
    return EnvSpec(
        env_id,
        suite(env_id),
        stack.observation_space(params),
        stack.action_space(params),
        True,
        int(getattr(params, "max_steps_in_episode", 0)),
        frozen,
        seed,
    )


JAX_ENV_OPTIONS = ("obs_keep", "optimistic_resets")
"""The options every JAX env (gymnax, probe, gridworld, suite) takes: `obs_keep`, the observation
entries to keep (`wrappers.KeepObservation`), and `optimistic_resets=K`, fresh states made per
batch step for the envs that ended (`wrappers.OptimisticResetEnv`; without it every env resets
as gymnax does). Besides them, a JAX env takes the fields of its own parameters
(`env_parameters`), e.g. `memory_length=20` for MemoryChain-bsuite."""


def _jax_env(env_id: str, options: dict) -> tuple[Any, Any, dict]:
    """A JAX env and its parameters, built with the options its constructor takes, and the
    options left for `jax_env_options` and `env_parameters`. Only a suite's env takes constructor
    options: those that are neither `obs_keep` nor a field of its parameters go to the suite
    (`one_hot=True` for XLand-MiniGrid, `max_steps=20` for `xminigrid.make`, Craftax's
    `EnvParams` fields, `jumanji.make`'s arguments); gymnax envs take only the latter two kinds.

    Raises:
        EnvOptionError: an option the suite refuses, in one line.
    """
    env, params = make(env_id)
    if split_id(env_id) is None:
        return env, params, options
    fields = _parameter_fields(params)
    own = {k: v for k, v in options.items() if k not in JAX_ENV_OPTIONS and k not in fields}
    if not own:
        return env, params, options
    try:
        env, params = make(env_id, **own)
    except (TypeError, ValueError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise EnvOptionError(
            f"{', '.join(f'{k}={v!r}' for k, v in own.items())}: not taken by {env_id} ({first})"
        ) from None
    return env, params, {k: v for k, v in options.items() if k not in own}


def jax_env_options(env, params, options: dict) -> dict:
    """The wrapper options of a JAX env, checked: `obs_keep` must name distinct entries of its
    flattened vector observation, given as one index or a tuple (`obs_keep=0,2` on the command
    line). Parameter fields (`env_parameters`) are checked there, not returned.

    Raises:
        EnvOptionError: another option, or bad indices, in one line.
    """
    fields = _parameter_fields(params)
    unknown = sorted(set(options) - set(JAX_ENV_OPTIONS) - set(fields))
    if unknown:
        allowed = ", ".join(f"{name}=" for name in (*JAX_ENV_OPTIONS, *fields))
        raise EnvOptionError(
            f"{', '.join(unknown)}: not an option of {type(env).__name__}; it takes {allowed} "
            "(obs_keep=I,J,...: the observation entries to keep; optimistic_resets=K: fresh states "
            "per batch step; the others: its parameters)"
        )
    checked = {}
    if "optimistic_resets" in options:
        resets = options["optimistic_resets"]
        if not isinstance(resets, int) or isinstance(resets, bool) or resets < 1:
            raise EnvOptionError(
                f"optimistic_resets={resets!r}: must be an integer >= 1 (fresh states per batch "
                "step; leave it out for gymnax's reset of every env)"
            )
        checked["optimistic_resets"] = resets
    if "obs_keep" not in options:
        return checked
    keep = options["obs_keep"]
    keep = (keep,) if isinstance(keep, int) else keep
    space = env.observation_space(env_parameters(params, options))
    size = math.prod(space.shape)
    ok = (
        isinstance(keep, tuple)
        and len(keep) >= 1
        and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < size for i in keep)
        and len(set(keep)) == len(keep)
    )
    if not ok or not isinstance(space, spaces.Box):
        raise EnvOptionError(
            f"obs_keep={options['obs_keep']!r}: must be distinct indices in [0, {size}) of the "
            f"flattened observation (shape {tuple(space.shape)}), e.g. obs_keep=0,2"
        )
    return {**checked, "obs_keep": keep}


def _parameter_fields(params) -> dict[str, Any]:
    """The scalar int/float fields of a JAX env's parameters (a flax struct dataclass), with
    their default values; {} for envs without parameters."""
    if params is None or not dataclasses.is_dataclass(params):
        return {}
    values = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    return {
        name: value
        for name, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def env_parameters(params, options: dict):
    """`params` with the options that name its fields set (`memory_length=20`), each checked to
    be of its field's type (an int field takes integers, > 0 where its default is; a float field
    finite numbers); the other options are left to `jax_env_options`.

    Raises:
        EnvOptionError: a value of the wrong type or sign, in one line.
    """
    fields = _parameter_fields(params)
    changes = {}
    for name, value in options.items():
        if name not in fields:
            continue
        default = fields[name]
        if isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
            kind = "an integer > 0" if default > 0 else "an integer"
            ok = ok and (value > 0 or default <= 0)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            kind = "a finite number"
            ok = ok and math.isfinite(value)
        if not ok:
            raise EnvOptionError(f"{name}={value!r}: must be {kind} (default {default!r})")
        changes[name] = type(default)(value)
    return params.replace(**changes) if changes else params


def _training_stack(
    env, params, flatten: bool, obs_keep: tuple[int, ...] | None = None, optimistic_resets=0
):
    """Episode statistics, flattening of multi-dimensional observations, the kept observation
    entries (`obs_keep`: flattening first), action clipping; with `optimistic_resets`, no
    auto-reset (`DeferReset`: `OptimisticResetEnv` restarts the envs)."""
    env = EpisodeStatistics(DeferReset(env) if optimistic_resets else env)
    if (flatten or obs_keep) and len(env.observation_space(params).shape) > 1:
        env = FlattenObservation(env)
    if obs_keep:
        env = KeepObservation(env, obs_keep)
    if isinstance(env.action_space(params), spaces.Box):
        env = ClipAction(env)
    return env


def make_batched(
    env: str | EnvSpec,
    num_envs: int,
    *,
    normalize_observations: bool = False,
    flatten: bool = True,
    seed: int = 0,
    runs: int = 1,
    **options,
) -> BatchedEnv:
    """The standard training stack, batched: what algorithms step.

    Episode statistics, flattening and action clipping on every env, `num_envs` of them vmapped,
    optionally running observation normalisation over the batch. An Atari id gives an
    `envs.atari.AtariEnv`, batched by envpool, which keeps its image observations and its own game
    statistics; a MuJoCo id an `envs.mujoco.MujocoEnv` (optionally normalised).

    Args:
        env: an `EnvSpec` (its options and seed are used) or any id `make` accepts.
        num_envs: batch size of the returned env.
        normalize_observations: add running observation normalisation over the batch.
        flatten: flatten observations with more than one dimension (for MLP policies).
        seed, runs, **options: with an env id, the seed of host-side envs (envpool), the runs
            that will be vmapped over it together (`EnvSpec.runs`) and envpool's options; JAX
            envs draw from the key given to `reset`, take no options and ignore `runs`.
    """
    if isinstance(env, EnvSpec):
        if options:
            raise EnvOptionError("give options through the EnvSpec, not besides it")
        env_id, seed, runs, options = env.env_id, env.seed, env.runs, dict(env.options)
    else:
        env_id = env
    if is_atari(env_id):
        if normalize_observations:
            raise EnvOptionError(
                "Atari observations are images scaled inside the network: no normalisation"
            )
        atari_env, _ = make(env_id, num_envs=num_envs, seed=seed, runs=runs, **options)
        return atari_env
    if mujoco.is_mujoco(env_id):
        mujoco_env, _ = make(env_id, num_envs=num_envs, seed=seed, runs=runs, **options)
        return NormalizeObservation(mujoco_env) if normalize_observations else mujoco_env
    single, params, options = _jax_env(env_id, options)
    wrapping = jax_env_options(single, params, options)
    stack = _training_stack(single, params, flatten, **wrapping)
    resets = wrapping.get("optimistic_resets", 0)
    params = env_parameters(params, options)
    batched: BatchedEnv = (
        OptimisticResetEnv(stack, params, num_envs, min(resets, num_envs))
        if resets
        else VmapEnv(stack, params, num_envs)
    )
    if normalize_observations:
        batched = NormalizeObservation(batched)
    return batched
