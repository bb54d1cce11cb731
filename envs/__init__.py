"""Environments for purejaxrl, all speaking the gymnax 1.0 API.

`make(env_id)` returns `(env, params)` for every gymnax id. Algorithms do not step single environments
directly: they use the batched view from `envs.wrappers.make_batched`, which an already-batched
environment (Atari through envpool, later) implements as well.
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
    "BatchedEnv",
    "ClipAction",
    "EpisodeStatistics",
    "Gridworld",
    "FlattenObservation",
    "NormalizeObservation",
    "VmapEnv",
    "make",
    "make_batched",
    "registered_ids",
]


def registered_ids() -> list[str]:
    """Every environment id that `make` accepts: gymnax's and our own (probes, gridworlds)."""
    return list(gymnax.registered_envs) + list(PROBES) + list(gridworld_ids())


class UnknownEnvironmentError(ValueError):
    """Raised for an env id that no registry knows."""


def make(env_id: str, **kwargs):
    """Build a single (unbatched) environment and its default parameters.

    Args:
        env_id: a registered id, e.g. "CartPole-v1" or "Pendulum-v1".
        **kwargs: passed to the environment's constructor.

    Returns:
        (env, params): a gymnax `Environment` and its `EnvParams`.

    Raises:
        UnknownEnvironmentError: the id is not registered; the message lists the closest ids.
    """
    ids = registered_ids()
    if env_id not in ids:
        close = difflib.get_close_matches(env_id, ids, n=5, cutoff=0.4)
        hint = f"closest: {', '.join(close)}" if close else f"known ids: {', '.join(sorted(ids))}"
        raise UnknownEnvironmentError(f"unknown env id {env_id!r}; {hint}")
    if env_id in gridworld_ids():
        name, slip = gridworld_ids()[env_id]
        env = Gridworld(name, **{"slip": slip, **kwargs})
        return env, env.default_params
    if env_id in PROBES:
        kind, continuous = PROBES[env_id]
        env = Probe(kind, continuous, **kwargs)
        return env, env.default_params
    return gymnax.make(env_id, **kwargs)
