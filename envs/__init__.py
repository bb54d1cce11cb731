"""Environments for purejaxrl, all speaking the gymnax 1.0 API.

    envs.make(env_id)              -> (env, params), one environment (Atari: already batched)
    envs.spec(env_id, **options)   -> EnvSpec: spaces, discrete or not, vmappable, episode limit
    envs.make_batched(spec, n)     -> the BatchedEnv that algorithms step, n envs at a time

They live in `envs.registry`; `envs.wrappers` holds the wrappers, `envs.gridworld` the tabular
worlds, `envs.probes` the probe MDPs, `envs.atari` and `envs.mujoco` the envpool adapters (their
shared part in `envs.hosted`), and `envs.suites` the adapter of the JAX suites (Craftax,
XLand-MiniGrid, Jumanji, MuJoCo Playground on MJX: ids such as `jumanji:Snake-v1`,
`playground:CartpoleBalance`).

Nothing is loaded until first used: importing gymnax starts JAX's backends (it builds arrays at
import), and a program that splits the CPU into several devices must do so before that (see
`purejaxrl.devices.split_cpu`). Importing this package only puts stand-ins for seaborn and
matplotlib.pyplot in `sys.modules` (`_defer_gymnax_renderer_imports`), which gymnax would
otherwise import in full for renderers a run never calls.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING


class _LoadedOnFirstUse(types.ModuleType):
    """Stands in `sys.modules` for a module until one of its attributes is asked for, then
    imports the real module (which takes its place there) and hands the attribute over."""

    def __getattr__(self, attr: str):  # only for attributes the stand-in lacks
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, real)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def _defer_gymnax_renderer_imports() -> None:
    """Makes seaborn and matplotlib.pyplot load on first use instead of at import.

    gymnax imports both at its own import, for the renderers of a few envs (seaborn pulls in
    pandas and scipy.stats): about a second and a half of every run's start-up here, for code a
    training run never calls. Each gets a `_LoadedOnFirstUse` stand-in, so renderers (and a
    user's own `import seaborn`) work as before, only later. Modules already imported, or not
    installed, are left alone. (`importlib.util.LazyLoader` does not serve: `import seaborn`
    reads the module's `__spec__`, which makes it load.)
    """
    for name in ("seaborn", "matplotlib.pyplot"):
        if name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)  # imports matplotlib itself for pyplot
        except ImportError:
            continue
        if spec is None:
            continue
        stand_in = _LoadedOnFirstUse(name)
        stand_in.__spec__ = spec
        sys.modules[name] = stand_in
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, stand_in)


_defer_gymnax_renderer_imports()

_HOMES = {
    "registry": (
        "BatchedEnv", "EnvOptionError", "EnvSpec", "UnknownEnvironmentError", "check_env_id",
        "is_atari", "make", "make_batched", "registered_ids", "spec", "suite",
    ),
    "atari": ("AtariEnv", "AtariExtraMissingError"),
    "mujoco": ("MujocoEnv", "MujocoExtraMissingError"),
    "gridworld": ("Gridworld",),
    "suites": ("SUITES", "SuiteEnv", "SuiteExtraMissingError", "UnsupportedSuiteIdError"),
    "boardgames": ("BOARD_GAMES", "BoardGameExtraMissingError", "VersusRandom", "pgx_env"),
    "wrappers": (
        "ClipAction", "EpisodeStatistics", "FlattenObservation", "NormalizeObservation", "VmapEnv",
    ),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "AtariEnv", "AtariExtraMissingError", "BOARD_GAMES", "BatchedEnv",
    "BoardGameExtraMissingError", "ClipAction", "EnvOptionError", "EnvSpec",
    "EpisodeStatistics", "FlattenObservation", "Gridworld", "MujocoEnv", "MujocoExtraMissingError",
    "NormalizeObservation", "SUITES", "SuiteEnv", "SuiteExtraMissingError",
    "UnsupportedSuiteIdError",
    "UnknownEnvironmentError", "VmapEnv", "check_env_id", "is_atari", "make", "make_batched",
    "VersusRandom", "pgx_env", "registered_ids", "spec", "suite",
]  # fmt: skip
assert sorted(__all__) == sorted(_MODULE_OF)


def __getattr__(name: str):
    if name in _HOMES or name in ("probes",):
        return importlib.import_module(f".{name}", __name__)
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *_HOMES, "probes"])


if TYPE_CHECKING:
    from .atari import AtariEnv, AtariExtraMissingError
    from .boardgames import BOARD_GAMES, BoardGameExtraMissingError, VersusRandom, pgx_env
    from .gridworld import Gridworld
    from .mujoco import MujocoEnv, MujocoExtraMissingError
    from .registry import (
        BatchedEnv,
        EnvOptionError,
        EnvSpec,
        UnknownEnvironmentError,
        check_env_id,
        is_atari,
        make,
        make_batched,
        registered_ids,
        spec,
        suite,
    )
    from .suites import SUITES, SuiteEnv, SuiteExtraMissingError, UnsupportedSuiteIdError
    from .wrappers import (
        ClipAction,
        EpisodeStatistics,
        FlattenObservation,
        NormalizeObservation,
        VmapEnv,
    )
