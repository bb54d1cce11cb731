"""The contract between an algorithm file and the shared runner.

An algorithm's `make_learner(config, spec)` builds a `Learner`: `init(key, hp)` makes the learner
state of one run and `update(state, hp)` performs one update (collect experience, learn from it)
and returns that update's metrics. `train` is the scan of `update` over `num_updates`; the runner
instead scans a vmapped `update` in chunks (`runner.build_chunk`), returning to the host between
them for progress, checkpoints and signals. Both give the same numbers.

Every algorithm's metrics include `episode_return` (mean undiscounted return of the episodes that
ended during the update, NaN if none did) and `episodes` (how many ended).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purejaxrl.hparams import HParams, StaticView, static_view

Metrics = dict[str, jax.Array]

EPISODE_INFO = ("returned_episode", "episode_return", "episode_length")
"""The episode statistics every `BatchedEnv` reports in `info`, (N,) each."""


class Learner(NamedTuple):
    init: Callable[[jax.Array, HParams], Any]
    """(key, hparams) -> learner state of one run."""
    update: Callable[[Any, HParams], tuple[Any, Metrics]]
    """(state, hparams) -> (state, metrics of this update); scalars per metric."""
    export: Callable[[Any], Any]
    """learner state -> what a checkpoint keeps (the policy's parameters and input statistics)."""
    num_updates: int
    """Updates in one run."""
    steps_per_update: int
    """Environment steps per update (all parallel envs together)."""


class TrainOutput(NamedTuple):
    state: Any
    """The final learner state."""
    metrics: Metrics
    """Per-update metrics, leading axis = update index."""


def learner_inputs(config, spec=None) -> tuple[StaticView, Any]:
    """What `make_learner` works from: the config behind a `StaticView` (traced fields come from
    `hp`) and the `envs.EnvSpec` of its env, computed here when the caller has none."""
    spec = static_view(config).env_spec() if spec is None else spec
    return static_view(config), spec


def scan_updates(learner: Learner) -> Callable[[jax.Array, HParams], TrainOutput]:
    """`train(key, hparams)`: a whole run as one pure function, every loop a `lax.scan`.

    A seed sweep is `jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, hparams)`.
    """

    def train(key: jax.Array, hparams: HParams) -> TrainOutput:
        def body(state, _):
            return learner.update(state, hparams)

        state, metrics = jax.lax.scan(body, learner.init(key, hparams), None, learner.num_updates)
        return TrainOutput(state, metrics)

    return train


def episode_info(info: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """The episode statistics (`EPISODE_INFO`) out of a step's `info`, to keep through a scan."""
    return {k: info[k] for k in EPISODE_INFO}


def episode_metrics(info: dict[str, jax.Array]) -> Metrics:
    """`episode_return`, `episode_length` and `episodes` from a rollout's `EpisodeStatistics` info.

    Args:
        info: `returned_episode`, `episode_return`, `episode_length`, each shape (T, N).
    """
    ended = info["returned_episode"]
    count = ended.sum()
    safe = jnp.maximum(count, 1)
    nan_if_none = jnp.where(count > 0, 1.0, jnp.nan)
    return {
        "episode_return": nan_if_none * jnp.sum(info["episode_return"] * ended) / safe,
        "episode_length": nan_if_none * jnp.sum(info["episode_length"] * ended) / safe,
        "episodes": count.astype(jnp.int32),
    }


def masked_means(metrics: Metrics, mask: jax.Array) -> Metrics:
    """Per-metric means over the entries where `mask` is true; NaN where it is never true.

    For off-policy learners whose training phases may be skipped (before learning starts): a NaN
    in a phase that did learn still shows in the mean.

    Args:
        metrics: each of shape (P,). mask: (P,) bool.
    """
    count = mask.sum()
    denominator = jnp.where(count > 0, count, jnp.nan)
    return {k: jnp.where(mask, v, 0.0).sum() / denominator for k, v in metrics.items()}
