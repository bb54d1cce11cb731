"""Environments for purejaxrl, all speaking the gymnax 1.0 API.

`make(env_id)` returns `(env, params)` for every gymnax id. Algorithms do not step single environments
directly: they use the batched view from `envs.wrappers.make_batched`, which an already-batched
environment (Atari through envpool, `envs.atari`) implements as well.
"""

from __future__ import annotations

import difflib
import os


def _split_cpu_into_devices() -> None:
    """Makes one JAX CPU device per core (`PUREJAXRL_CPU_DEVICES=N` to choose N, 1 to turn it off).

    XLA runs one compiled loop on one core; with several CPU devices the runner shards the runs of
    a sweep over them, so every core works. It must happen before JAX starts its backends, hence
    here, before gymnax is imported (gymnax starts them on import). GPUs and TPUs are unaffected.
    """
    count = int(os.environ.get("PUREJAXRL_CPU_DEVICES", "0") or 0) or (os.cpu_count() or 1)
    if count <= 1:
        return
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        pass  # JAX already started its backends: keep the devices it has


_split_cpu_into_devices()

import gymnax

from envs.atari import (
    INSTALL_HINT,
    AtariEnv,
    AtariExtraMissingError,
    atari_ids,
    looks_like_atari,
)
from envs.gridworld import Gridworld, gridworld_ids
from envs.probes import PROBES, Probe
from envs.wrappers import (
    BatchedEnv,
    ClipAction,
    EpisodeStatistics,
    FlattenObservation,
    NormalizeObservation,
    VmapEnv,
    make_batched,
)

__all__ = [
    "AtariEnv",
    "AtariExtraMissingError",
    "BatchedEnv",
    "ClipAction",
    "EpisodeStatistics",
    "Gridworld",
    "FlattenObservation",
    "NormalizeObservation",
    "VmapEnv",
    "check_env_id",
    "is_atari",
    "make",
    "make_batched",
    "registered_ids",
]


def registered_ids() -> list[str]:
    """Every environment id that `make` accepts: gymnax's, our own (probes, gridworlds) and, with
    the `atari` extra installed, envpool's Atari games."""
    return list(gymnax.registered_envs) + list(PROBES) + list(gridworld_ids()) + list(atari_ids())


class UnknownEnvironmentError(ValueError):
    """Raised for an env id that no registry knows."""


def is_atari(env_id: str) -> bool:
    """Whether `env_id` is an Atari game served by envpool (true for `Pong-v5` even without envpool)."""
    return env_id in atari_ids() or (
        looks_like_atari(env_id) and env_id not in gymnax.registered_envs
    )


def check_env_id(env_id: str) -> None:
    """Raises for an id `make` would refuse, without building the environment.

    Raises:
        AtariExtraMissingError: an Atari id (`*-v5`) while envpool is not installed.
        UnknownEnvironmentError: the id is not registered; the message lists the closest ids.
    """
    ids = registered_ids()
    if env_id in ids:
        return
    if looks_like_atari(env_id) and not atari_ids():
        raise AtariExtraMissingError(f"env id {env_id!r}: {INSTALL_HINT}")
    close = difflib.get_close_matches(env_id, ids, n=5, cutoff=0.4)
    hint = f"closest: {', '.join(close)}" if close else f"known ids: {', '.join(sorted(ids))}"
    raise UnknownEnvironmentError(f"unknown env id {env_id!r}; {hint}")


def make(env_id: str, **kwargs):
    """Build an environment and its default parameters.

    Args:
        env_id: a registered id, e.g. "CartPole-v1", "Pendulum-v1" or (with envpool) "Pong-v5".
        **kwargs: passed to the environment's constructor. For Atari: `num_envs`, `seed` and
            envpool options (see `envs.atari.AtariEnv`).

    Returns:
        (env, params): a gymnax `Environment` and its `EnvParams`; for Atari an already batched
        `AtariEnv` and None (envpool keeps its configuration itself).

    Raises:
        UnknownEnvironmentError, AtariExtraMissingError: see `check_env_id`.
    """
    check_env_id(env_id)
    if env_id in gridworld_ids():
        name, slip = gridworld_ids()[env_id]
        env = Gridworld(name, **{"slip": slip, **kwargs})
        return env, env.default_params
    if env_id in PROBES:
        kind, continuous = PROBES[env_id]
        env = Probe(kind, continuous, **kwargs)
        return env, env.default_params
    if env_id in atari_ids():
        return AtariEnv(env_id, **kwargs), None
    return gymnax.make(env_id, **kwargs)
