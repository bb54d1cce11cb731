"""The shared runner: config in, a finished run folder out, for any algorithm.

`run(config, make_learner, algo)` validates the config (and every grid point), turns on the
persistent compilation cache, compiles one program that trains every (grid point, seed) pair,
sharded over the visible devices (on a CPU, one per core: see `envs/__init__.py`), runs it with a
progress bar fed from inside the loop, and writes the outputs described in `purejaxrl.outputs`.
`main(...)` is the same from the command line (tyro), where a traced hyperparameter takes several
values: `--lr 1e-4 3e-4`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import sys
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import outputs
from purejaxrl.config import ConfigError, Grid, traced_fields
from purejaxrl.learner import Learner
from purejaxrl.progress import ProgressBar

MakeLearner = Callable[[Any], Learner]


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


def warn_if_cpu_not_split(num_runs: int) -> None:
    """Says on stderr when a multi-run sweep will use one core of several (see envs/__init__.py)."""
    devices, cores = jax.devices(), os.cpu_count() or 1
    turned_off = os.environ.get("PUREJAXRL_CPU_DEVICES") == "1"
    single_cpu = devices[0].platform == "cpu" and len(devices) == 1
    if single_cpu and num_runs > 1 and cores > 1 and not turned_off:
        print(
            f"note: JAX has 1 CPU device on a {cores}-core machine, so the {num_runs} runs share "
            "one core; import purejaxrl (or envs) before gymnax or any JAX work to split the CPU",
            file=sys.stderr,
        )


def validate(config, grid_values: Mapping[str, Sequence[float]] | None = None) -> Grid:
    """Validates the config at every grid point and returns the grid; raises `ConfigError`."""
    from envs import is_atari

    grid = Grid.from_values(config, grid_values)
    for point in grid.points:
        point.validate()
    runs = config.num_seeds * len(grid)
    if is_atari(config.env_id) and runs > 1:
        raise ConfigError(
            f"num_seeds={config.num_seeds} x {len(grid)} grid point(s): an Atari env (envpool) "
            "cannot be vmapped, so it trains one run per call; start one process per seed/value"
        )
    return grid


def build_sweep(learner: Learner, num_runs: int, progress: ProgressBar | None, ticks: int):
    """`sweep(keys (R,), hparams (R,)) -> (exported, metrics (update, R))`, to be jitted.

    The update loop is a `lax.scan` over a vmapped `learner.update`, so the progress callback sits
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
        over_runs = jax.vmap if keys.shape[0] > 1 else single_run
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


def _shardings(num_runs: int, max_devices: int):
    """(padded run count, input sharding or None): runs split evenly over the devices used.

    Uses every visible device (at most `max_devices` if > 0), never more devices than runs.
    """
    devices = jax.devices()
    count = min(len(devices), num_runs, max_devices or len(devices))
    if count == 1:
        return num_runs, None
    padded = math.ceil(num_runs / count) * count
    mesh = jax.sharding.Mesh(np.array(devices[:count]), ("runs",))
    return padded, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("runs"))


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
        make_learner: the algorithm's `make_learner`.
        algo: the algorithm's name, used in the output path.
        grid_values: traced field -> values; the grid is their cartesian product.
        write: write the run folder (config, metrics, summary, plot, checkpoint).

    Raises:
        ConfigError: a bad config value, before anything is compiled or written.
        NonFiniteLossError: the loss became NaN/inf; the outputs are written first.
    """
    grid = validate(config, grid_values)
    num_seeds, num_grid = config.num_seeds, len(grid)
    num_runs = num_seeds * num_grid
    configure_jax(config)
    warn_if_cpu_not_split(num_runs)
    learner = make_learner(grid.points[0])
    run_dir = outputs.new_run_dir(config.runs_dir, config.env_id, algo) if write else None
    if run_dir is not None:
        record = outputs.config_record(algo, config, grid, num_seeds)
        outputs.atomic_write_json(run_dir / "config.json", record)

    seed_keys = jax.random.split(jax.random.key(config.seed), num_seeds)
    keys = jnp.tile(seed_keys, num_grid)  # run r: grid point r // num_seeds, seed r % num_seeds
    hparams = jax.tree.map(lambda x: jnp.repeat(x, num_seeds), grid.hparams())
    padded, sharding = _shardings(num_runs, config.devices)
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
    sweep = build_sweep(learner, num_runs, progress, config.progress_ticks)

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


def format_table(result: RunResult) -> str:
    """The result table printed at the end of a CLI run."""
    s = result.summary
    head = (
        f"{s['algo']} on {s['env_id']}: {s['num_seeds']} seed(s) x {s['grid_points']} grid "
        f"point(s), {s['env_steps_per_run']:,} env steps each"
    )
    lines = [head, "", f"{'grid point':<28} {'final return [95% CI]':>28} {'IQM':>10}"]

    def fmt(x):
        return "n/a" if x is None else f"{x:.1f}"

    for row in s["results"]:
        ci = row["final_return_ci95"]
        ci_text = f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else ""
        lines.append(
            f"{row['grid_point'] or 'default':<28} "
            f"{fmt(row['final_return_mean']) + ci_text:>28} {fmt(row['final_return_iqm']):>10}"
        )
    lines += [
        "",
        f"compile {s['compile_time_s']:.1f} s, run {s['run_time_s']:.1f} s, "
        f"{s['steps_per_second']:,.0f} env steps/s on {s['device']}",
    ]
    if result.run_dir is not None:
        lines.append(f"outputs: {result.run_dir}")
    return "\n".join(lines)


def cli_class(config_cls: type, defaults=None) -> type:
    """The command-line form of a config class: each traced field takes one or more values.

    `defaults` (a config instance) supplies the defaults shown and used; the class's by default.
    """
    import tyro

    hints = typing.get_type_hints(config_cls, include_extras=True)
    traced = set(traced_fields(config_cls))
    fields = []
    for f in dataclasses.fields(config_cls):
        doc = tyro._docstrings.get_field_docstring(config_cls, f.name, ()) or ""
        default = f.default if defaults is None else getattr(defaults, f.name)
        if f.name in traced:
            doc += " Traced: several values form a grid."
            typ = Annotated[tuple[float, ...], tyro.conf.arg(help=doc)]
            fields.append((f.name, typ, dataclasses.field(default=(default,))))
        else:
            typ = Annotated[hints[f.name], tyro.conf.arg(help=doc)]
            fields.append((f.name, typ, dataclasses.field(default=default)))
    cls = dataclasses.make_dataclass(config_cls.__name__, fields, frozen=True)
    cls.__doc__ = config_cls.__doc__
    return cls


def parse_args(config_cls: type, argv: Sequence[str] | None = None, prog: str | None = None):
    """(config, grid_values) from the command line.

    The defaults follow the env: an Atari `--env-id` brings the algorithm's `atari_defaults`.
    """
    import tyro

    argv = list(sys.argv[1:] if argv is None else argv)
    env_id = requested_env_id(argv) or config_cls.env_id
    defaults = config_cls.for_env(env_id)
    args = tyro.cli(cli_class(config_cls, defaults), args=argv, prog=prog)
    values = {name: getattr(args, name) for name in traced_fields(config_cls)}
    for name, v in values.items():
        if not v:
            raise ConfigError(f"{name}: give at least one value")
    static = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls)}
    config = config_cls(**{**static, **{name: v[0] for name, v in values.items()}})
    return config, {name: v for name, v in values.items() if len(v) > 1}


def requested_env_id(argv: Sequence[str]) -> str | None:
    """The value of `--env-id` (or `--env_id`) on a command line, if given."""
    for i, arg in enumerate(argv):
        name, sep, value = arg.partition("=")
        if name in ("--env-id", "--env_id"):
            if sep:
                return value
            return argv[i + 1] if i + 1 < len(argv) else None
    return None


def main(
    config_cls: type, make_learner: MakeLearner, algo: str, argv: Sequence[str] | None = None
) -> RunResult:
    """Command-line entry of an algorithm file. Bad input: one line on stderr and exit code 2."""
    try:
        config, grid_values = parse_args(config_cls, argv, prog=f"python -m purejaxrl.{algo}")
        result = run(config, make_learner, algo, grid_values)
    except (ConfigError, NonFiniteLossError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(format_table(result))
    return result
