"""The shared runner: config in, a finished run folder out, for any algorithm.

`run(config, make_learner, algo)` computes the env's `EnvSpec` once, validates every grid point
against it, turns on the persistent compilation cache, compiles one program that trains every
(grid point, seed) pair, sharded over the visible devices (`purejaxrl.devices`), runs it with a
progress bar fed from inside the loop, and writes the outputs described in `purejaxrl.outputs`.
The command line (`purejaxrl.cli`) is a thin layer on top of it.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import envs
from purejaxrl import outputs
from purejaxrl.config import ConfigError, Grid, static_view
from purejaxrl.devices import run_sharding, warn_if_cpu_not_split
from purejaxrl.learner import Learner
from purejaxrl.progress import ProgressBar

MakeLearner = Callable[..., Learner]
"""An algorithm's `make_learner(config, spec)`."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite during training."""


@dataclass
class RunResult:
    """Everything a run produced, in memory. Metrics have shape (grid, seed, update)."""

    config: Any
    grid: Grid
    metrics: dict[str, np.ndarray]
    env_steps: np.ndarray  # (update,) env steps per run at the end of each update
    exported: Any  # checkpoint pytree, leading axis = run (grid-major, then seed)
    summary: dict
    run_dir: Path | None


def configure_jax(config) -> None:
    """Turns on JAX's persistent compilation cache unless `config.compilation_cache` is empty."""
    if config.compilation_cache:
        jax.config.update("jax_compilation_cache_dir", os.path.expanduser(config.compilation_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def validate(
    config, grid_values: Mapping[str, Sequence[float]] | None = None
) -> tuple[Grid, envs.EnvSpec]:
    """(grid, env spec): the spec computed once, every grid point validated against it.

    Raises:
        ConfigError: the first bad value; nothing has been built or written.
    """
    grid = Grid.from_values(config, grid_values)
    spec = config.env_spec()
    for point in grid.points:
        point.validate(spec)
    runs = config.num_seeds * len(grid)
    if not spec.vmappable and runs > 1:
        raise ConfigError(
            f"num_seeds={config.num_seeds} x {len(grid)} grid point(s): {config.env_id} is "
            "stepped on the host and cannot be vmapped, so it trains one run per call; start one "
            "process per seed/value"
        )
    return grid, spec


def build_sweep(
    learner: Learner,
    num_runs: int,
    progress: ProgressBar | None,
    ticks: int,
    vmappable: bool = True,
):
    """`sweep(keys (R,), hparams (R,)) -> (exported, metrics (update, R))`, to be jitted.

    Runs are vmapped; a single run, or an env that cannot be vmapped (`EnvSpec.vmappable`, then
    validated to one run), goes through `single_run` instead. The update loop is a `lax.scan` over
    the vmapped `learner.update`, so the progress callback sits
    outside the vmap: it fires once per tick for all runs together (the first `num_runs` lanes are
    real runs, the rest padding for an even split over devices).
    """
    period = max(1, math.ceil(learner.num_updates / ticks))

    def report(i, metrics):
        def fire():
            returns = metrics["episode_return"][:num_runs]
            seen = jnp.isfinite(returns)
            mean = jnp.where(seen, returns, 0.0).sum() / jnp.maximum(seen.sum(), 1)
            jax.debug.callback(progress.update, i, jnp.where(seen.any(), mean, jnp.nan))

        last = i == learner.num_updates - 1
        jax.lax.cond(((i + 1) % period == 0) | last, fire, lambda: None)

    def sweep(keys, hparams):
        over_runs = jax.vmap if vmappable and keys.shape[0] > 1 else single_run
        state = over_runs(learner.init)(keys, hparams)

        def body(state, i):
            state, metrics = over_runs(learner.update)(state, hparams)
            if progress is not None:
                report(i, metrics)
            return state, metrics

        state, metrics = jax.lax.scan(body, state, jnp.arange(learner.num_updates))
        return over_runs(learner.export)(state), metrics

    return sweep


def single_run(fn: Callable) -> Callable:
    """What `jax.vmap(fn)` computes on a batch of one, without vmap: envpool's XLA step (Atari)
    cannot be vmapped, and a single run does not need it."""

    def call(*args):
        out = fn(*jax.tree.map(lambda x: x[0], args))
        return jax.tree.map(lambda x: jnp.asarray(x)[None], out)

    return call


def environment_record() -> dict:
    """Versions and device, for summary.json."""
    packages = ("jax", "jaxlib", "flax", "optax", "chex", "gymnax", "numpy", "purejaxrl")
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    devices = jax.devices()
    return {
        "versions": {"python": platform.python_version(), **versions},
        "device": f"{len(devices)} x {devices[0].device_kind} ({devices[0].platform})",
        "host": f"{platform.machine()}, {os.cpu_count()} cores",
    }


def run(
    config,
    make_learner: MakeLearner,
    algo: str,
    grid_values: Mapping[str, Sequence[float]] | None = None,
    *,
    write: bool = True,
) -> RunResult:
    """Trains `config.num_seeds` seeds at every grid point in one compiled call.

    Args:
        config: an algorithm config (a `BaseConfig` subclass).
        make_learner: the algorithm's `make_learner(config, spec)`.
        algo: the algorithm's name, used in the output path.
        grid_values: traced field -> values; the grid is their cartesian product.
        write: write the run folder (config, metrics, summary, plot, checkpoint).

    Raises:
        ConfigError: a bad config value, before anything is compiled or written.
        NonFiniteLossError: the loss became NaN/inf; the outputs are written first.
    """
    grid, spec = validate(config, grid_values)
    num_seeds, num_grid = config.num_seeds, len(grid)
    num_runs = num_seeds * num_grid
    configure_jax(config)
    warn_if_cpu_not_split(num_runs)
    # every grid point shares the static fields; traced values reach the learner as hparams
    learner = make_learner(static_view(grid.points[0]), spec)
    run_dir = outputs.new_run_dir(config.runs_dir, config.env_id, algo) if write else None
    if run_dir is not None:
        record = outputs.config_record(algo, config, grid, num_seeds)
        outputs.atomic_write_json(run_dir / "config.json", record)

    seed_keys = jax.random.split(jax.random.key(config.seed), num_seeds)
    keys = jnp.tile(seed_keys, num_grid)  # run r: grid point r // num_seeds, seed r % num_seeds
    hparams = jax.tree.map(lambda x: jnp.repeat(x, num_seeds), grid.hparams())
    padded, sharding = run_sharding(num_runs, config.devices)
    if padded > num_runs:
        keys, hparams = jax.tree.map(
            lambda x: jnp.concatenate([x, jnp.repeat(x[:1], padded - num_runs, axis=0)]),
            (keys, hparams),
        )
    if sharding is not None:
        keys, hparams = jax.device_put((keys, hparams), sharding)

    progress = None
    if config.progress:
        total = learner.num_updates * learner.steps_per_update * num_runs
        progress = ProgressBar(
            total, learner.steps_per_update * num_runs, f"{algo} {config.env_id}"
        )
    sweep = build_sweep(learner, num_runs, progress, config.progress_ticks, spec.vmappable)

    start = time.perf_counter()
    compiled = jax.jit(sweep).lower(keys, hparams).compile()
    compile_time = time.perf_counter() - start
    if progress is not None:
        progress.start()
    start = time.perf_counter()
    exported, metrics = jax.block_until_ready(compiled(keys, hparams))
    run_time = time.perf_counter() - start
    if progress is not None:
        progress.close()

    exported = jax.tree.map(lambda x: np.asarray(x)[:num_runs], exported)
    metrics = {
        name: np.asarray(value)[:, :num_runs].T.reshape(num_grid, num_seeds, -1)
        for name, value in metrics.items()
    }
    env_steps = np.arange(1, learner.num_updates + 1) * learner.steps_per_update
    total_steps = learner.num_updates * learner.steps_per_update * num_runs
    summary = {
        "algo": algo,
        "env_id": config.env_id,
        "num_seeds": num_seeds,
        "grid_points": num_grid,
        "env_steps_per_run": int(env_steps[-1]),
        "final_return_definition": (
            f"mean return of the episodes that ended in the last {outputs.FINAL_FRACTION:.0%} "
            "of updates, per seed"
        ),
        "results": outputs.summarize(metrics, grid.labels()),
        "compile_time_s": compile_time,
        "run_time_s": run_time,
        "steps_per_second": total_steps / run_time,
        **environment_record(),
    }
    result = RunResult(config, grid, metrics, env_steps, exported, summary, run_dir)
    if run_dir is not None:
        outputs.save_metrics(run_dir, metrics, env_steps)
        outputs.atomic_write_json(run_dir / "summary.json", summary)
        outputs.save_checkpoint(run_dir, exported)
        outputs.plot_curves(
            run_dir / "curve.png",
            env_steps,
            metrics["episode_return"],
            grid.labels(),
            f"{algo} on {config.env_id} ({num_seeds} seeds)",
        )
    check_finite_loss(result)
    return result


def check_finite_loss(result: RunResult) -> None:
    """Raises `NonFiniteLossError` naming the first run and update whose loss is not finite.

    Updates without a gradient step (metric `gradient_steps` == 0, e.g. before DQN's
    learning_starts) report a NaN loss by design and are not checked.
    """
    loss = result.metrics.get("loss")
    if loss is None:
        return
    bad = ~np.isfinite(loss)
    if "gradient_steps" in result.metrics:
        bad &= result.metrics["gradient_steps"] > 0
    if not bad.any():
        return
    g, s, u = np.argwhere(bad)[0]
    label = result.grid.labels()[g] or "the only grid point"
    where = f"; outputs kept in {result.run_dir}" if result.run_dir else ""
    raise NonFiniteLossError(
        f"loss became non-finite at update {u} of seed {s} ({label}); "
        f"try a smaller lr (or max_grad_norm where the algorithm has one){where}"
    )
