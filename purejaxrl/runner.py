"""The shared runner: config in, a run folder out, for any algorithm, in chunks that survive.

`run(config, make_learner, algo)` computes the env's `EnvSpec` once, validates every grid point
against it, turns on the persistent compilation cache, and compiles one program that advances
every (grid point, seed) pair by a chunk of updates, sharded over the visible devices
(`purejaxrl.devices`). The host calls it until the runs are done; between chunks it

- reports progress (`purejaxrl.progress`; no callback inside the program, so it stays cacheable),
- marks the runs whose loss became non-finite: left out of the results, the others go on,
- writes live metrics (`purejaxrl.live`: TensorBoard, optionally Weights & Biases),
- saves full-state checkpoints every `checkpoint_every` updates (`purejaxrl.checkpoints`),
- honours SIGINT/SIGTERM: stop after this chunk with a checkpoint and every output.

`run(..., resume=run_dir)` continues a run from its last checkpoint; on the same devices the
result equals an uninterrupted run's bit for bit. The outputs are described in
`purejaxrl.outputs`; the command line (`purejaxrl.cli`) is a thin layer on top.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import signal
import threading
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
from purejaxrl import checkpoints, distributed, outputs
from purejaxrl.config import ConfigError, Grid, static_view
from purejaxrl.devices import compiler_options, run_sharding, warn_if_cpu_not_split
from purejaxrl.learner import Learner
from purejaxrl.progress import Progress

MakeLearner = Callable[..., Learner]
"""An algorithm's `make_learner(config, spec)`."""


@dataclass
class RunResult:
    """Everything a run produced, in memory. Metrics have shape (grid, seed, update); a diverged
    run's are NaN from the update where it diverged on."""

    config: Any
    grid: Grid
    metrics: dict[str, np.ndarray]
    env_steps: np.ndarray  # (update,) env steps per run at the end of each update
    exported: Any  # the policy (`learner.export`) of every run, leading axis = run
    summary: dict  # summary.json: status, results, diverged runs, times, versions
    run_dir: Path | None

    @property
    def status(self) -> str:
        """complete, interrupted, or all runs diverged."""
        return self.summary["status"]

    @property
    def diverged(self) -> list[dict]:
        """{grid_point, seed, update} of every run whose loss became non-finite."""
        return self.summary["diverged"]


def open_live_log(config, run_dir: Path, labels: list[str], purge_step: int | None):
    """The run's `purejaxrl.live.LiveLog` (TensorBoard and/or Weights & Biases); `purge_step`:
    the first env step a resumed run logs again."""
    from purejaxrl.live import LiveLog

    return LiveLog(
        run_dir, labels, config.num_seeds,
        wandb_project=config.wandb_project or None, wandb_config=dataclasses.asdict(config),
        purge_step=purge_step, run_name=f"{config.env_id}/{run_dir.name}",
    )  # fmt: skip


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
    if not spec.vmappable and jax.process_count() > 1:
        raise ConfigError(
            f"env_id={config.env_id!r}: stepped on the host (envpool), so it trains in one "
            "process; start it without jax.distributed"
        )
    return grid, spec


def chunk_size(config, num_updates: int) -> int:
    """Updates per compiled chunk: `config.chunk_updates`, or 1% of the run when it is 0 (auto).

    A chunk returns to the host, which costs a dispatch and a copy of the chunk's metrics; at 1%
    that is 100 returns per run, whose cost `benchmarks/chunking.py` measures (under 2% of run
    time on CartPole, the cheapest update there is).
    """
    k = config.chunk_updates or math.ceil(num_updates / 100)
    return max(1, min(k, num_updates))


def build_chunk(learner: Learner, chunk_updates: int, over_runs: Callable, sharding=None):
    """`chunk(state (R,), hparams (R,), start) -> (state, metrics (chunk_updates, R))`, to be jitted.

    Advances every run by `chunk_updates` updates from update index `start`: a `lax.scan` over the
    runs' `learner.update` (vmapped, or `single_run`). When the chunk size does not divide the run,
    the last chunk's updates past the end are skipped by a `lax.cond` on the (unbatched) update
    index, so one compiled program serves every chunk; their metrics are zeros and discarded.
    With a `sharding` of the run axis, the state keeps it from chunk to chunk.
    """
    num_updates = learner.num_updates
    ragged = num_updates % chunk_updates != 0

    def chunk(state, hparams, start):
        def update(state):
            return over_runs(learner.update)(state, hparams)

        def skip(state):
            shapes = jax.eval_shape(update, state)[1]
            return state, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

        def body(state, j):
            if not ragged:
                return update(state)
            return jax.lax.cond(start + j < num_updates, update, skip, state)

        state, metrics = jax.lax.scan(body, state, jnp.arange(chunk_updates))
        if sharding is not None:
            state = jax.lax.with_sharding_constraint(state, sharding)
        return state, metrics

    return chunk


def single_run(fn: Callable) -> Callable:
    """What `jax.vmap(fn)` computes on a batch of one, without vmap: a single run does not need it."""

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


class StopRequests:
    """SIGINT and SIGTERM during training: the first asks the runner to stop after the current
    chunk, with a checkpoint and every output; a second exits at once (code 130), leaving the last
    checkpoint as it was. Active only in the main thread, where Python receives signals."""

    def __init__(self):
        self.signal_name: str | None = None
        self.previous: dict = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None:
            os.write(2, f"\n{name} again: exiting now; the last checkpoint is kept\n".encode())
            os._exit(130)
        self.signal_name = name
        os.write(
            2,
            f"\n{name}: stopping after the current chunk, with a checkpoint "
            "(send it again to exit at once)\n".encode(),
        )


def wait_for(tree: Any) -> None:
    """Blocks until `tree` is computed while signal handlers can still run: a plain
    `block_until_ready` on the main thread would hold Ctrl-C until the whole chunk is done."""
    done = threading.Event()
    failure: list[BaseException] = []

    def block():
        try:
            jax.block_until_ready(tree)
        except BaseException as error:  # re-raised on the main thread
            failure.append(error)
        finally:
            done.set()

    threading.Thread(target=block, daemon=True).start()
    while not done.wait(1.0):
        pass
    if failure:
        raise failure[0]


def first_divergence(metrics: Mapping[str, np.ndarray], first_update: int) -> np.ndarray:
    """(R,) the update at which each run's loss is first non-finite in a chunk, -1 if never.

    Args:
        metrics: a chunk's metrics, each (updates, R). Updates without a gradient step (metric
            `gradient_steps` == 0, e.g. before DQN's learning_starts) report a NaN loss by design
            and are not counted.
    """
    loss = metrics.get("loss")
    if loss is None:
        return np.full(next(iter(metrics.values())).shape[1], -1)
    bad = ~np.isfinite(loss)
    if "gradient_steps" in metrics:
        bad &= metrics["gradient_steps"] > 0
    return np.where(bad.any(axis=0), first_update + bad.argmax(axis=0), -1)


def mask_diverged(
    metrics: Mapping[str, np.ndarray], diverged_at: np.ndarray, first_update: int = 0
) -> dict[str, np.ndarray]:
    """Metrics (update, R) with every value from a run's divergence on replaced by NaN (0 for
    integer metrics), so its curve ends where it diverged. Row 0 is update `first_update`."""
    updates = first_update + np.arange(next(iter(metrics.values())).shape[0])[:, None]
    after = (diverged_at >= 0) & (updates >= diverged_at)
    return {
        name: np.where(after, np.nan if np.issubdtype(v.dtype, np.floating) else 0, v)
        for name, v in metrics.items()
    }


def run(
    config,
    make_learner: MakeLearner,
    algo: str,
    grid_values: Mapping[str, Sequence[float]] | None = None,
    *,
    write: bool = True,
    resume: str | Path | None = None,
    process_timeout: float = 90.0,
) -> RunResult:
    """Trains `config.num_seeds` seeds at every grid point, in chunks of one compiled program.

    Between chunks the host reports progress, marks runs whose loss became non-finite (they are
    excluded from the results; the others go on), writes live metrics and full-state checkpoints
    (`purejaxrl.checkpoints`), and honours SIGINT/SIGTERM (`StopRequests`).

    Args:
        config: an algorithm config (a `BaseConfig` subclass).
        make_learner: the algorithm's `make_learner(config, spec)`.
        algo: the algorithm's name, used in the output path.
        grid_values: traced field -> values; the grid is their cartesian product.
        write: write the run folder (config, metrics, summary, plot, checkpoints, TensorBoard).
        resume: a run folder to continue from its last checkpoint (config and grid must be the
            ones it was started with, as `purejaxrl.cli` reads them from its config.json).
        process_timeout: in a multi-process run (`purejaxrl.distributed`), how long to wait at
            a chunk boundary or one of orbax's checkpoint barriers for the other processes
            before stopping with `LostProcessError`.

    Raises:
        ConfigError: a bad config value, before anything is compiled or written.
        CheckpointError: `resume` has no usable checkpoint for this config.
    """
    grid, spec = validate(config, grid_values)
    primary = distributed.is_primary()
    num_seeds, num_grid = config.num_seeds, len(grid)
    num_runs = num_seeds * num_grid
    configure_jax(config)
    warn_if_cpu_not_split(num_runs if spec.vmappable else 1)
    if resume is not None:
        run_dir = Path(resume)
        start_step = checkpoints.latest_step(run_dir)
        if start_step is None:
            raise checkpoints.CheckpointError(f"{run_dir}: no complete checkpoint to resume from")
    else:
        start_step = 0
        run_dir = None
        if write:  # process 0 creates it, the others learn its name
            made = outputs.new_run_dir(config.runs_dir, config.env_id, algo) if primary else None
            run_dir = Path(distributed.share_text(str(made) if made else None))
    # a host-stepped env (Atari) is one pool for all runs, stepped from one device
    padded, sharding = run_sharding(num_runs, config.devices if spec.vmappable else 1)
    # every grid point shares the static fields; traced values reach the learner as hparams
    learner = make_learner(static_view(grid.points[0]), dataclasses.replace(spec, runs=padded))
    num_updates, steps_per_update = learner.num_updates, learner.steps_per_update
    chunk_updates = chunk_size(config, num_updates)

    seed_keys = jax.random.split(jax.random.key(config.seed), num_seeds)
    keys = jnp.tile(seed_keys, num_grid)  # run r: grid point r // num_seeds, seed r % num_seeds
    hparams = jax.tree.map(lambda x: jnp.repeat(x, num_seeds), grid.hparams())
    pad = lambda tree: jax.tree.map(
        lambda x: jnp.concatenate([x, jnp.repeat(x[:1], padded - num_runs, axis=0)]), tree
    )
    if padded > num_runs:
        keys, hparams = pad((keys, hparams))
    keys = jax.random.key_data(keys)  # raw data: global arrays are built from host values
    if sharding is not None:
        keys, hparams = jax.tree.map(
            lambda x: jax.make_array_from_callback(x.shape, sharding, lambda i: np.asarray(x)[i]),
            (keys, hparams),
        )
    device_count = len(sharding.device_set) if sharding is not None else 1
    if run_dir is not None and resume is None and primary:
        record = outputs.config_record(algo, config, grid, num_seeds)
        record["started_on_devices"] = device_count
        outputs.atomic_write_json(run_dir / "config.json", record)

    # on Atari, the vmap reaches envpool through the batching rule of `envs.atari.AtariEnv`
    over_runs = jax.vmap if num_runs > 1 else single_run
    about = {"algo": algo, "env_id": config.env_id, "num_runs": num_runs}
    description = f"{algo} {config.env_id}"
    progress = None
    if config.progress and primary:
        progress = Progress(
            num_updates * steps_per_update * num_runs, description,
            done_steps=start_step * steps_per_update * num_runs,
        )  # fmt: skip
        progress.message(
            f"{description}: compiling {num_runs} run(s), chunks of {chunk_updates} update(s)..."
        )
    start = time.perf_counter()
    init = jax.jit(lambda k, h: over_runs(learner.init)(jax.random.wrap_key_data(k), h))
    init = init.lower(keys, hparams).compile(compiler_options())
    compile_time = time.perf_counter() - start
    run_start = time.perf_counter()
    state = init(keys, hparams)
    if sharding is not None:
        state = jax.device_put(state, sharding)
    jax.block_until_ready(state)
    init_time = time.perf_counter() - run_start

    metrics_so_far: dict[str, np.ndarray] | None = None
    diverged_at = np.full(num_runs, -1)
    notes: list[str] = []
    if start_step:
        metric_dtypes = jax.eval_shape(
            lambda s, h: over_runs(learner.update)(s, h)[1], state, hparams
        )
        state, metrics_so_far, diverged_at, notes = _restore(
            run_dir, state, metric_dtypes, spec, about, start_step
        )
        started_on = _started_on(run_dir)
        if device_count != started_on:
            notes.append(
                f"resumed on {device_count} device(s), started on {started_on}: "
                "results are not promised to be bitwise equal to an uninterrupted run"
            )
        for note in notes:
            distributed.say(f"{description}: {note}")

    start = time.perf_counter()
    chunk = jax.jit(build_chunk(learner, chunk_updates, over_runs, sharding), donate_argnums=0)
    chunk = chunk.lower(state, hparams, np.int32(0)).compile(compiler_options())
    compile_time += time.perf_counter() - start
    if progress is not None:
        progress.message(f"{description}: compiled in {compile_time:.1f} s")
        progress.start()

    labels = grid.labels()
    live = None
    if run_dir is not None and primary and (config.tensorboard or config.wandb_project):
        # the killed process may have logged updates past the checkpoint: hide them
        purge = (start_step + 1) * steps_per_update if start_step else None
        live = open_live_log(config, run_dir, labels, purge)
    history: list[dict[str, np.ndarray]] = [] if metrics_so_far is None else [metrics_so_far]
    done = start_step
    last_save = start_step
    run_time = init_time
    checkpoint_time = sync_time = 0.0
    status = "running"

    def to_grid(metrics):  # (update, R) -> (G, S, update)
        return {k: v.T.reshape(num_grid, num_seeds, -1) for k, v in metrics.items()}

    def snapshot_outputs(status: str) -> RunResult:
        metrics = {k: np.concatenate([h[k] for h in history]) for k in history[0]}
        steps = np.arange(1, done + 1) * steps_per_update
        diverged = diverged_at.reshape(num_grid, num_seeds)
        shown = to_grid(mask_diverged(metrics, diverged_at))
        summary = {
            "algo": algo,
            "env_id": config.env_id,
            "status": status,
            "updates_done": done,
            "num_updates": num_updates,
            "num_seeds": num_seeds,
            "grid_points": num_grid,
            "env_steps_per_run": int(done * steps_per_update),
            "final_return_definition": (
                f"mean return of the episodes that ended in the last {outputs.FINAL_FRACTION:.0%} "
                "of updates, per seed; diverged runs are excluded"
            ),
            "results": outputs.summarize(shown, labels, diverged >= 0),
            "diverged": [
                {"grid_point": labels[g], "seed": int(s), "update": int(diverged[g, s])}
                for g, s in np.argwhere(diverged >= 0)
            ],
            "notes": notes,
            "compile_time_s": compile_time,
            "run_time_s": run_time,
            "checkpoint_time_s": checkpoint_time,
            "sync_time_s": sync_time,  # in run_time_s: the processes' check-in and metric gather
            "steps_per_second": (done - start_step) * steps_per_update * num_runs / run_time,
            "chunk_updates": chunk_updates,
            **environment_record(),
        }
        result = RunResult(config, grid, shown, steps, None, summary, run_dir)
        if run_dir is not None and primary:
            shown_npz = {**shown, "diverged_at": diverged}
            outputs.save_metrics(run_dir, shown_npz, steps)
            outputs.atomic_write_json(run_dir / "summary.json", summary)
            outputs.plot_curves(
                run_dir / "curve.png", steps, shown["episode_return"], labels,
                f"{algo} on {config.env_id} ({num_seeds} seeds)",
            )  # fmt: skip
        return result

    def save_checkpoint(state):
        metrics = {k: np.concatenate([h[k] for h in history]) for k in history[0]}
        snapshot = checkpoints.Snapshot(state, metrics, diverged_at, done)
        checkpoints.save(run_dir, snapshot, config.keep_checkpoints, about, process_timeout)

    try:
        with StopRequests() as stop:
            while done < num_updates:
                tick = time.perf_counter()
                state, metrics = chunk(state, hparams, np.int32(done))
                wait_for((state, metrics))
                count = min(chunk_updates, num_updates - done)
                synced = time.perf_counter()
                asked = distributed.check_in(
                    f"chunk-{done}", process_timeout, stop.signal_name is not None
                )
                with distributed.collective(f"the gather of chunk {done}", process_timeout):
                    metrics = distributed.gather(metrics)
                metrics = {k: v[:count, :num_runs] for k, v in metrics.items()}
                sync_time += time.perf_counter() - synced
                run_time += time.perf_counter() - tick
                history.append(metrics)
                found = first_divergence(metrics, done)
                newly = (diverged_at < 0) & (found >= 0)
                diverged_at = np.where(newly, found, diverged_at)
                done += count
                shown = mask_diverged(metrics, diverged_at, done - count)
                if progress is not None:
                    progress.advance(done * steps_per_update * num_runs, chunk_return(shown))
                    for r in np.flatnonzero(newly):
                        progress.message(
                            f"{description}: seed {r % num_seeds} "
                            f"({labels[r // num_seeds] or 'the only grid point'}) diverged at "
                            f"update {diverged_at[r]}; it is left out of the results"
                        )
                if live is not None:
                    steps = np.arange(done - count + 1, done + 1) * steps_per_update
                    live.write(steps, to_grid(shown))
                all_diverged = bool((diverged_at >= 0).all())
                stopping = asked or all_diverged
                due = config.checkpoint_every and done - last_save >= config.checkpoint_every
                if run_dir is not None and (due or stopping or done == num_updates):
                    tick = time.perf_counter()
                    with distributed.collective(f"checkpoint {done}", process_timeout):
                        save_checkpoint(state)
                    checkpoint_time += time.perf_counter() - tick
                    last_save = done
                    if done < num_updates:
                        snapshot_outputs("interrupted" if stopping else "running")
                if stopping:
                    status = "interrupted" if asked else "all runs diverged"
                    break
            else:
                status = "complete"
    finally:
        if progress is not None:
            progress.close()
        if live is not None:
            live.close()

    result = snapshot_outputs(status)
    exported = distributed.gather(jax.jit(over_runs(learner.export))(state))
    result.exported = jax.tree.map(lambda x: x[:num_runs], exported)
    if status == "interrupted":
        result.summary["stopped_by"] = stop.signal_name or "another process's signal"
    return result


def chunk_return(metrics: Mapping[str, np.ndarray]) -> float:
    """Mean return over the episodes that ended in a chunk, over all runs (NaN if none did)."""
    returns, counts = metrics["episode_return"], metrics["episodes"].astype(np.float64)
    total = np.nansum(np.where(counts > 0, returns * counts, 0.0))
    n = counts[np.isfinite(returns)].sum()
    return float(total / n) if n > 0 else math.nan


def _started_on(run_dir: Path) -> int:
    record = json.loads((Path(run_dir) / "config.json").read_text())
    return int(record.get("started_on_devices", 1))


def _restore(run_dir, state, metric_shapes, spec, about, step):
    """(state, metrics so far, diverged_at, notes) from the run folder's checkpoint of `step`.

    `state` is the freshly initialised one: it gives the structure, the shardings (the restored
    arrays are placed like its arrays, on every process's devices), and on an env that lives on
    the host (Atari through envpool, whose emulators cannot be saved) the fresh games that
    replace the saved ones.
    """
    num_runs = about["num_runs"]
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct((num_runs, *x.shape[1:]), x.dtype), state
    )
    dtypes = {k: v.dtype for k, v in metric_shapes.items()}
    snapshot = checkpoints.restore(run_dir, abstract, dtypes, num_runs, about, step)
    padded = jax.tree.leaves(state)[0].shape[0]

    def place(saved, like):
        saved = np.asarray(saved)
        if padded > num_runs:
            saved = np.concatenate([saved, np.repeat(saved[:1], padded - num_runs, axis=0)])
        is_key = jax.dtypes.issubdtype(like.dtype, jax.dtypes.prng_key)
        placed = jax.make_array_from_callback(saved.shape, like.sharding, lambda i: saved[i])
        return jax.random.wrap_key_data(placed) if is_key else placed

    restored = jax.tree.map(place, snapshot.state, state)
    notes = []
    if not spec.vmappable:
        restored = restored.replace(env_state=state.env_state, obs=state.obs)
        notes.append(
            f"resumed at update {step}: envpool's emulator state cannot be saved, so the games "
            "restarted from a reset (everything else was restored)"
        )
    metrics = {k: np.asarray(v) for k, v in snapshot.metrics.items()}
    return restored, metrics, np.asarray(snapshot.diverged_at), notes
