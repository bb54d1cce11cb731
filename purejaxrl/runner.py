"""The shared runner: config in, a run folder out, for any algorithm, in chunks that survive.

`run(config, make_learner, algo)` goes through four phases:

1. `set_up` -> `Sweep`: computes the env's `EnvSpec` once, validates every grid point against
   it, turns on the persistent compilation cache, makes the run folder (or finds it, resuming),
   builds the learner and places every (grid point, seed) run's key and hyperparameters on the
   visible devices (`purejaxrl.devices`).
2. `start` -> `RunContext`: compiles two programs, one that initialises every run and one that
   advances every run by a chunk of updates; initialises the runs (or restores them from the
   last checkpoint); opens the progress display and the live log.
3. `train_chunks`: calls the chunk program until the runs are done; after each chunk the host
   calls the named steps of `CHUNK_STEPS` in order, each on the `RunContext` and the chunk's
   `ChunkRecord`:
   - `sync_processes`: checks in with the other processes (`purejaxrl.distributed`), passing
     on a stop request, and gathers the chunk's metrics,
   - `mark_divergence`: marks the runs whose loss became non-finite: failures in the results,
     the others go on,
   - `report_progress` (`purejaxrl.progress`; no callback inside the program, so it stays
     cacheable),
   - `write_live_metrics` (`purejaxrl.live`: TensorBoard, optionally Weights & Biases),
   - `decide_stop`: after SIGINT/SIGTERM (`StopRequests`) or when every run has diverged, the
     run stops after this chunk with a checkpoint and every output,
   - `save_checkpoint`: full-state checkpoints every `checkpoint_every` updates, at the end and
     when stopping (`purejaxrl.checkpoints`), with the outputs so far.
4. `finish` -> `RunResult`: the final outputs and every run's exported policy.

`run(..., resume=run_dir)` continues a run from its last checkpoint; on the same devices the
result equals an uninterrupted run's bit for bit. The outputs, summary.json's content included,
are assembled and written by `purejaxrl.outputs`; the command line (`purejaxrl.cli`) is a thin
layer on top.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import checkpoints, distributed, envs, outputs
from purejaxrl.checks import ConfigError
from purejaxrl.devices import compiler_options, run_sharding, warn_if_cpu_not_split
from purejaxrl.evaluate import record_greedy_evaluation
from purejaxrl.grid import Grid
from purejaxrl.hparams import static_view
from purejaxrl.learner import Learner
from purejaxrl.progress import Progress

MakeLearner = Callable[..., Learner]
"""An algorithm's `make_learner(config, spec)`."""

environment_record = outputs.environment_record  # its home is outputs.py; benchmarks call it here


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


class StopRequests:
    """SIGINT and SIGTERM during a run: the first asks the runner to stop at the next safe point
    (during training, after the current chunk, with a checkpoint and every output; before it,
    once compilation ends, keeping nothing of a new run); a second exits at once (code 130),
    leaving the last checkpoint as it was. Active only in the main thread, where Python receives
    signals (which it handles between two Python steps: a compilation in progress ends first)."""

    def __init__(self):
        self.signal_name: str | None = None
        self.training = False
        """Whether the chunk loop runs (for the message of the first signal)."""
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
        when = (
            "after the current chunk, with a checkpoint" if self.training
            else "when compilation ends, before training starts"
        )  # fmt: skip
        os.write(2, f"\n{name}: stopping {when} (send it again to exit at once)\n".encode())

    def check(self) -> None:
        """Raises `StoppedBeforeTraining` if a signal came (called before training starts)."""
        if self.signal_name is not None:
            raise StoppedBeforeTraining(self.signal_name)


class StoppedBeforeTraining(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived before training started (while compiling, say): a new run's
    folder was removed, a resumed one is as it was."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


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


@dataclass(frozen=True)
class Sweep:
    """A sweep set up (phase 1): validated, its run folder chosen, its learner built, every run's
    key and hyperparameters placed on the devices. The later phases read it, never change it."""

    config: Any
    algo: str
    grid: Grid
    spec: envs.EnvSpec
    learner: Learner
    run_dir: Path | None
    """The run folder; None when nothing is written."""
    first_update: int
    """Updates done before this process started: 0, or the resumed checkpoint's."""
    chunk_updates: int
    sharding: Any
    """Of the run axis over the devices; None on one device."""
    keys: Any
    """(padded runs, ...) raw PRNG key data, one key per run."""
    hparams: Any
    """(padded runs,) every run's traced hyperparameters."""
    over_runs: Callable
    """`jax.vmap`, or `single_run` for a sweep of one run."""
    primary: bool
    """This process writes the outputs (process 0)."""
    process_timeout: float
    lock: outputs.RunFolderLock | None = None
    """Process 0's lock on the run folder, held until the run ends."""

    @property
    def num_seeds(self) -> int:
        return self.config.num_seeds

    @property
    def num_grid(self) -> int:
        return len(self.grid)

    @property
    def num_runs(self) -> int:
        """Runs without padding: run r is grid point r // num_seeds, seed r % num_seeds."""
        return self.num_seeds * self.num_grid

    @property
    def num_updates(self) -> int:
        return self.learner.num_updates

    @property
    def steps_per_update(self) -> int:
        return self.learner.steps_per_update

    @property
    def device_count(self) -> int:
        return len(self.sharding.device_set) if self.sharding is not None else 1

    @property
    def labels(self) -> list[str]:
        return self.grid.labels()

    @property
    def description(self) -> str:
        return f"{self.algo} {self.config.env_id}"

    @property
    def about(self) -> dict:
        """What every checkpoint records of the run, checked when it is restored."""
        return {
            "algo": self.algo, "env_id": self.config.env_id, "num_runs": self.num_runs,
            **self.config.checkpoint_facts(),
        }  # fmt: skip

    def to_grid(self, metrics: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Metrics (update, R) -> (grid, seed, update)."""
        return {k: v.T.reshape(self.num_grid, self.num_seeds, -1) for k, v in metrics.items()}


@dataclass
class RunContext:
    """The run as the chunk loop advances it (phases 2-4): each chunk step reads and updates it."""

    sweep: Sweep
    chunk: Callable | None
    """The compiled chunk program, `(state, hparams, start) -> (state, metrics)`."""
    state: Any
    """Every run's learner state, padding runs included, placed like `sweep.hparams`."""
    history: list[dict[str, np.ndarray]]
    """Metrics (updates, R) of each chunk so far, the resumed checkpoint's first."""
    diverged_at: np.ndarray
    """(R,) the update at which each run's loss became non-finite, -1 if it did not."""
    notes: list[str]
    """What a resumed run cannot promise, for summary.json."""
    times: outputs.Timings
    done: int
    """Updates done."""
    last_save: int
    """Updates done at the last checkpoint."""
    progress: Progress | None = None
    live: Any = None
    """The `purejaxrl.live.LiveLog`, or None."""
    stop: StopRequests | None = None
    """The signal handlers while `train_chunks` runs."""
    status: str = "running"
    """At the end: complete, interrupted, or all runs diverged."""


@dataclass
class ChunkRecord:
    """One chunk as the chunk steps pass it on: each step fills in what the later ones read."""

    first: int
    """Index of its first update."""
    count: int
    """Updates it did (in the last chunk, those past the end are skipped)."""
    started: float
    """`time.perf_counter()` when it was dispatched."""
    metrics: Any
    """This process's device arrays; after `sync_processes`, (count, R) host arrays."""
    stop_asked: bool = False
    """A signal reached this or another process."""
    newly_diverged: np.ndarray | None = None
    """(R,) the runs whose loss first became non-finite in this chunk."""
    shown: dict[str, np.ndarray] | None = None
    """Its metrics with the diverged runs masked (`mask_diverged`)."""
    stopping: bool = False
    """The run stops after this chunk: a stop was asked or every run diverged."""


def set_up(
    config,
    make_learner: MakeLearner,
    algo: str,
    grid_values: Mapping[str, Sequence[float]] | None,
    *,
    write: bool,
    resume: str | Path | None,
    process_timeout: float,
) -> Sweep:
    """Phase 1: validates the sweep, turns on the compilation cache, makes (or finds and locks,
    resuming) the run folder, builds the learner, places every run's inputs on the devices and
    writes config.json in a new run folder. Arguments and errors as `run`'s."""
    grid, spec = validate(config, grid_values)
    # every process must have resolved the same sweep, or seeds would silently mix settings
    agreed = outputs.config_record(algo, config, grid, config.num_seeds)
    distributed.agree({**agreed, "resume": str(resume or ""), "write": write}, process_timeout)
    primary = distributed.is_primary()
    num_runs = config.num_seeds * len(grid)
    configure_jax(config)
    warn_if_cpu_not_split(num_runs if spec.vmappable else 1)
    # a resumed folder is locked before its checkpoints are read: another process may be saving
    lock = outputs.RunFolderLock(Path(resume)).acquire() if resume is not None and primary else None
    new_dir = None
    try:
        first_update = _resumed_step(resume)
        # a host-stepped env (Atari) is one pool for all runs, stepped from one device
        padded, sharding = run_sharding(num_runs, config.devices if spec.vmappable else 1)
        # every grid point shares the static fields; traced values reach the learner as hparams
        learner = make_learner(static_view(grid.points[0]), dataclasses.replace(spec, runs=padded))
        if resume is not None:
            _refuse_if_complete(Path(resume), first_update, learner.num_updates)
        _note_budget(config, learner)
        keys, hparams = _run_inputs(config, grid, padded, sharding)
        run_dir = Path(resume) if resume is not None else None
        if resume is None and write:
            run_dir = new_dir = _new_run_dir(config, algo, primary)
            lock = outputs.RunFolderLock(run_dir).acquire() if primary else None
        # on Atari, the vmap reaches envpool through the batching rule of `envs.atari.AtariEnv`
        over_runs = jax.vmap if num_runs > 1 else single_run
        sweep = Sweep(
            config, algo, grid, spec, learner, run_dir, first_update,
            chunk_size(config, learner.num_updates), sharding, keys, hparams, over_runs, primary,
            process_timeout, lock,
        )  # fmt: skip
        if new_dir is not None and primary:
            record = outputs.config_record(algo, config, grid, config.num_seeds)
            record["started_on_devices"] = sweep.device_count
            outputs.atomic_write_json(run_dir / "config.json", record)
    except BaseException:
        if lock is not None:
            lock.release()
        if new_dir is not None and primary:
            discard_unstarted(new_dir)
        raise
    return sweep


def _note_budget(config, learner: Learner) -> None:
    """Says (process 0) when a budget the user chose is not a whole number of updates: every
    algorithm trains it rounded down to whole updates (summary.json records both numbers). The
    algorithm's default budget for the env (its suite's, e.g. MuJoCo's 1e6, else the class's) is
    rounded without a word, on every default run."""
    trained = learner.num_updates * learner.steps_per_update
    default = {f.name: f.default for f in dataclasses.fields(config)}.get("total_timesteps")
    suite = type(config).defaults_for_suite(envs.suite(config.env_id))
    default = suite.get("total_timesteps", default)
    if trained != config.total_timesteps != default:
        distributed.say(
            f"note: total_timesteps={config.total_timesteps:,} is not a whole number of updates "
            f"of {learner.steps_per_update:,} env steps: training {trained:,} env steps per run "
            f"({learner.num_updates:,} updates)"
        )


class RunComplete(Exception):
    """`--resume` of a run that has done all its updates: there is nothing to do."""


def _resumed_step(resume: str | Path | None) -> int:
    """Updates done at the resumed folder's last checkpoint; 0 for a new run."""
    if resume is None:
        return 0
    step = checkpoints.latest_step(Path(resume))
    if step is None:
        raise checkpoints.CheckpointError(f"{resume}: no complete checkpoint to resume from")
    return step


def _refuse_if_complete(run_dir: Path, step: int, num_updates: int) -> None:
    """Raises `RunComplete` when the checkpoint is the run's last and summary.json says the run
    is complete (a run killed while writing its final outputs goes on, to write them)."""
    summary = outputs.read_summary(run_dir) or {}
    if step >= num_updates and summary.get("status") == "complete":
        raise RunComplete(
            f"{run_dir}: the run is complete ({num_updates:,} of {num_updates:,} updates); "
            "nothing to resume, nothing was changed"
        )


def _new_run_dir(config, algo: str, primary: bool) -> Path:
    """A new run folder, made by process 0 and its name shared with the others."""
    made = outputs.new_run_dir(config.runs_dir, config.env_id, algo) if primary else None
    return Path(distributed.share_text(str(made) if made else None))


def discard_unstarted(run_dir: Path) -> None:
    """Removes a new run folder in which training never started (no checkpoint, no summary):
    it holds config.json at most, and a folder that looks like a run but cannot be resumed
    would only mislead."""
    if not ((run_dir / checkpoints.CHECKPOINT_DIR).exists() or (run_dir / "summary.json").exists()):
        shutil.rmtree(run_dir, ignore_errors=True)


def _run_inputs(config, grid: Grid, padded: int, sharding) -> tuple[Any, Any]:
    """(keys as raw key data, hparams) of every run, padded to `padded` runs with copies of run 0
    and placed on the devices; run r is grid point r // num_seeds, seed r % num_seeds."""
    num_seeds, num_grid = config.num_seeds, len(grid)
    num_runs = num_seeds * num_grid
    seed_keys = jax.random.split(jax.random.key(config.seed), num_seeds)
    keys = jnp.tile(seed_keys, num_grid)
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
    return keys, hparams


def start(sweep: Sweep, stop: StopRequests | None = None) -> RunContext:
    """Phase 2: compiles the init and chunk programs, initialises every run (or restores it from
    the last checkpoint), and opens the progress display and the live log.

    Raises:
        StoppedBeforeTraining: `stop` got a signal meanwhile (checked after each compilation).
    """
    stop = StopRequests() if stop is None else stop
    times = outputs.Timings()
    progress = _open_progress(sweep)
    try:
        with _compiling(sweep, progress):
            state, times.compile, times.run = _initialise(sweep)
            stop.check()
            ctx = RunContext(
                sweep, None, state, [], np.full(sweep.num_runs, -1), [], times,
                done=sweep.first_update, last_save=sweep.first_update, progress=progress,
                stop=stop,
            )  # fmt: skip
            if sweep.first_update:
                _resume(ctx)
                sweep = ctx.sweep
            tick = time.perf_counter()
            chunk = build_chunk(sweep.learner, sweep.chunk_updates, sweep.over_runs, sweep.sharding)
            chunk = jax.jit(chunk, donate_argnums=0).lower(ctx.state, sweep.hparams, np.int32(0))
            ctx.chunk = chunk.compile(compiler_options())
            times.compile += time.perf_counter() - tick
        stop.check()
    except BaseException:
        if progress is not None:
            progress.close()
        raise
    if progress is not None:
        progress.message(f"{sweep.description}: compiled in {times.compile:.1f} s")
        progress.start()
    ctx.live = _open_live(sweep)
    return ctx


def _open_progress(sweep: Sweep) -> Progress | None:
    """Process 0's progress display (when `config.progress`)."""
    if not (sweep.config.progress and sweep.primary):
        return None
    steps_per_update = sweep.steps_per_update * sweep.num_runs  # over all runs
    progress = Progress(
        sweep.num_updates * steps_per_update, sweep.description,
        done_steps=sweep.first_update * steps_per_update,
    )  # fmt: skip
    return progress


def _compiling(sweep: Sweep, progress: Progress | None):
    """Process 0's ticking line while the programs compile (`Progress.ticking`)."""
    if progress is None:
        return contextlib.nullcontext()
    return progress.ticking(
        f"{sweep.description}: compiling {outputs.plural(sweep.num_runs, 'run')}, chunks of "
        f"{outputs.plural(sweep.chunk_updates, 'update')}..."
    )


def _initialise(sweep: Sweep) -> tuple[Any, float, float]:
    """(every run's initial state, seconds compiling, seconds initialising): `learner.init`."""
    tick = time.perf_counter()
    init = jax.jit(
        lambda k, h: strongly_typed(
            sweep.over_runs(sweep.learner.init)(jax.random.wrap_key_data(k), h)
        )
    )
    init = init.lower(sweep.keys, sweep.hparams).compile(compiler_options())
    compile_time = time.perf_counter() - tick
    tick = time.perf_counter()
    state = init(sweep.keys, sweep.hparams)
    if sweep.sharding is not None:
        state = jax.device_put(state, sweep.sharding)
    jax.block_until_ready(state)
    return state, compile_time, time.perf_counter() - tick


def strongly_typed(state):
    """`state` with every weakly typed leaf made strong (same dtype and values).

    An env may start a counter from a Python number (gymnax's `time = 0` is a weak `~int32`);
    a checkpoint restores it as a plain int32. The chunk program is compiled for the state's
    types, so without this a resumed run would compile (and run) another program than the one
    an uninterrupted run uses, and miss the compilation cache.
    """
    return jax.tree.map(lambda x: x.astype(x.dtype), state)


def _resume(ctx: RunContext) -> None:
    """Replaces the fresh state by the last checkpoint's, takes its metrics and divergences, and
    notes (printed, and kept for summary.json) what the resumed run cannot promise."""
    sweep = ctx.sweep
    metric_dtypes = jax.eval_shape(
        lambda s, h: sweep.over_runs(sweep.learner.update)(s, h)[1], ctx.state, sweep.hparams
    )
    ctx.state, metrics, ctx.diverged_at, ctx.notes, step = _restore(
        sweep.run_dir, ctx.state, metric_dtypes, sweep.spec, sweep.about, sweep.first_update
    )
    if step != sweep.first_update:  # the newest checkpoint is damaged: an older one was taken
        ctx.sweep = sweep = dataclasses.replace(sweep, first_update=step)
        ctx.done = ctx.last_save = step
    ctx.history.append(metrics)
    started_on = _started_on(sweep.run_dir)
    if sweep.device_count != started_on:
        ctx.notes.append(
            f"resumed on {sweep.device_count} device(s), started on {started_on}: "
            "results are not promised to be bitwise equal to an uninterrupted run"
        )
    for note in ctx.notes:
        distributed.say(f"{sweep.description}: {note}")


def _open_live(sweep: Sweep):
    """Process 0's `purejaxrl.live.LiveLog` of a written run with TensorBoard or W&B on, else None."""
    config = sweep.config
    if sweep.run_dir is None or not sweep.primary:
        return None
    if not (config.tensorboard or config.wandb_project):
        return None
    # the killed process may have logged updates past the checkpoint: hide them
    first = sweep.first_update
    purge = (first + 1) * sweep.steps_per_update if first else None
    try:
        return open_live_log(config, sweep.run_dir, sweep.labels, purge)
    except OSError as error:
        _live_log_failed(error)
        return None


def _live_log_failed(error: OSError) -> None:
    """Says that live logging stopped: an accessory, never a reason to lose the run."""
    where = f"{error.filename}: " if error.filename else ""
    distributed.say(
        f"warning: live metrics (TensorBoard/W&B) are off from here: {where}"
        f"{error.strerror or error}; training goes on, and metrics.npz, summary.json and "
        "curve.png are written as usual"
    )


def compute_chunk(ctx: RunContext) -> ChunkRecord:
    """Advances every run by one chunk from update `ctx.done` and waits for it."""
    sweep = ctx.sweep
    tick = time.perf_counter()
    ctx.state, metrics = ctx.chunk(ctx.state, sweep.hparams, np.int32(ctx.done))
    wait_for((ctx.state, metrics))
    count = min(sweep.chunk_updates, sweep.num_updates - ctx.done)
    return ChunkRecord(ctx.done, count, tick, metrics)


def sync_processes(ctx: RunContext, chunk: ChunkRecord) -> None:
    """Checks in with the other processes, passing on a stop request, and gathers the chunk's
    metrics of every run onto the host (`purejaxrl.distributed`; one process: a copy)."""
    sweep = ctx.sweep
    synced = time.perf_counter()
    chunk.stop_asked = distributed.check_in(
        f"chunk-{chunk.first}", sweep.process_timeout, ctx.stop.signal_name is not None
    )
    with distributed.collective(f"the gather of chunk {chunk.first}", sweep.process_timeout):
        metrics = distributed.gather(chunk.metrics)
    chunk.metrics = {k: v[: chunk.count, : sweep.num_runs] for k, v in metrics.items()}
    ctx.times.sync += time.perf_counter() - synced
    ctx.times.run += time.perf_counter() - chunk.started


def mark_divergence(ctx: RunContext, chunk: ChunkRecord) -> None:
    """Records the chunk, marks the runs whose loss became non-finite in it, and masks their
    metrics from there: they count as failures in the results, the others go on."""
    ctx.history.append(chunk.metrics)
    found = first_divergence(chunk.metrics, chunk.first)
    chunk.newly_diverged = (ctx.diverged_at < 0) & (found >= 0)
    ctx.diverged_at = np.where(chunk.newly_diverged, found, ctx.diverged_at)
    ctx.done += chunk.count
    chunk.shown = mask_diverged(chunk.metrics, ctx.diverged_at, chunk.first)


def report_progress(ctx: RunContext, chunk: ChunkRecord) -> None:
    """Advances the progress display and names the runs that diverged in the chunk."""
    sweep, progress = ctx.sweep, ctx.progress
    if progress is None:
        return
    progress.advance(ctx.done * sweep.steps_per_update * sweep.num_runs, chunk_return(chunk.shown))
    for r in np.flatnonzero(chunk.newly_diverged):
        progress.message(
            f"{sweep.description}: seed {r % sweep.num_seeds} "
            f"({sweep.labels[r // sweep.num_seeds] or 'the only grid point'}) diverged at "
            f"update {ctx.diverged_at[r]}; it counts as a failure in the results"
        )


def write_live_metrics(ctx: RunContext, chunk: ChunkRecord) -> None:
    """Logs the chunk's metrics to TensorBoard / Weights & Biases (`purejaxrl.live`)."""
    if ctx.live is None:
        return
    steps = np.arange(chunk.first + 1, ctx.done + 1) * ctx.sweep.steps_per_update
    try:
        ctx.live.write(steps, ctx.sweep.to_grid(chunk.shown))
    except OSError as error:
        _live_log_failed(error)
        live, ctx.live = ctx.live, None
        with contextlib.suppress(OSError):
            live.close()


def decide_stop(ctx: RunContext, chunk: ChunkRecord) -> None:
    """Stop after this chunk when a process got SIGINT/SIGTERM or every run has diverged."""
    chunk.stopping = chunk.stop_asked or bool((ctx.diverged_at >= 0).all())


def save_checkpoint(ctx: RunContext, chunk: ChunkRecord) -> None:
    """Saves a full-state checkpoint (`purejaxrl.checkpoints`) when `checkpoint_every` updates
    have passed since the last, at the end, and when stopping; before the end, also rewrites
    the outputs so far."""
    sweep, config = ctx.sweep, ctx.sweep.config
    due = config.checkpoint_every and ctx.done - ctx.last_save >= config.checkpoint_every
    if sweep.run_dir is None or not (due or chunk.stopping or ctx.done == sweep.num_updates):
        return
    tick = time.perf_counter()
    try:
        with distributed.collective(f"checkpoint {ctx.done}", sweep.process_timeout):
            snapshot = checkpoints.Snapshot(ctx.state, _all_metrics(ctx), ctx.diverged_at, ctx.done)
            checkpoints.save(
                sweep.run_dir, snapshot, config.keep_checkpoints, sweep.about,
                sweep.process_timeout,
            )  # fmt: skip
    except checkpoints.DiskFullError as error:
        raise checkpoints.DiskFullError(f"{error}; {_resume_hint(sweep)}") from None
    ctx.times.checkpoint += time.perf_counter() - tick
    ctx.last_save = ctx.done
    if ctx.done < sweep.num_updates:
        write_outputs(ctx, "interrupted" if chunk.stopping else "running")


CHUNK_STEPS: tuple[Callable[[RunContext, ChunkRecord], None], ...] = (
    sync_processes,
    mark_divergence,
    report_progress,
    write_live_metrics,
    decide_stop,
    save_checkpoint,
)
"""What the host does after every chunk, in this order."""


def train_chunks(ctx: RunContext) -> None:
    """Phase 3: advances the runs chunk by chunk, calling `CHUNK_STEPS` after each, until they
    are done (status complete), a stop was asked (interrupted) or every run diverged; honours
    SIGINT/SIGTERM meanwhile (`ctx.stop`, a `StopRequests` that `run` holds)."""
    ctx.stop.training = True
    try:
        while ctx.done < ctx.sweep.num_updates:
            chunk = compute_chunk(ctx)
            for step in CHUNK_STEPS:
                step(ctx, chunk)
            if chunk.stopping:
                ctx.status = "interrupted" if chunk.stop_asked else "all runs diverged"
                break
        else:
            ctx.status = "complete"
    finally:
        if ctx.progress is not None:
            ctx.progress.close()
        if ctx.live is not None:
            with contextlib.suppress(OSError):  # said when a write failed
                ctx.live.close()


def _all_metrics(ctx: RunContext) -> dict[str, np.ndarray]:
    """Every update's metrics so far, (updates done, R)."""
    return {k: np.concatenate([h[k] for h in ctx.history]) for k in ctx.history[0]}


def write_outputs(ctx: RunContext, status: str) -> RunResult:
    """The run so far as a `RunResult` (without the exported policies); process 0 of a written
    run also writes metrics.npz, summary.json and curve.png (`purejaxrl.outputs`)."""
    sweep = ctx.sweep
    steps = np.arange(1, ctx.done + 1) * sweep.steps_per_update
    diverged = ctx.diverged_at.reshape(sweep.num_grid, sweep.num_seeds)
    shown = sweep.to_grid(mask_diverged(_all_metrics(ctx), ctx.diverged_at))
    summary = outputs.run_summary(
        sweep.algo, sweep.config.env_id, status, shown, sweep.labels, diverged,
        first_update=sweep.first_update, num_updates=sweep.num_updates,
        steps_per_update=sweep.steps_per_update, chunk_updates=sweep.chunk_updates,
        notes=ctx.notes, times=ctx.times, total_timesteps=sweep.config.total_timesteps,
        definition=outputs.final_return_definition(sweep.config),
    )  # fmt: skip
    if sweep.run_dir is not None and sweep.primary:
        title = f"{sweep.algo} on {sweep.config.env_id} ({outputs.plural(sweep.num_seeds, 'seed')})"
        try:
            outputs.write_results(
                sweep.run_dir, shown, diverged, steps, summary, sweep.labels, title,
                sweep.config.step_unit,
            )  # fmt: skip
        except OSError as error:
            if not checkpoints.is_disk_full(error):
                raise
            raise checkpoints.DiskFullError(
                f"no space left on device writing the outputs in {sweep.run_dir} (checkpoint "
                f"{ctx.last_save} is complete); {_resume_hint(sweep)}"
            ) from None
    return RunResult(sweep.config, sweep.grid, shown, steps, None, summary, sweep.run_dir)


def _resume_hint(sweep: Sweep) -> str:
    return (
        f"free some space, then resume with: python -m purejaxrl {sweep.algo} "
        f"--resume {sweep.run_dir}"
    )


def finish(ctx: RunContext) -> RunResult:
    """Phase 4: the final outputs, every run's exported policy (`learner.export`) and, for a
    complete run, the greedy evaluation in the summary (`evaluate.record_greedy_evaluation`)."""
    sweep = ctx.sweep
    result = write_outputs(ctx, ctx.status)
    exported = distributed.gather(jax.jit(sweep.over_runs(sweep.learner.export))(ctx.state))
    result.exported = jax.tree.map(lambda x: x[: sweep.num_runs], exported)
    if ctx.status == "complete" and sweep.primary:
        record_greedy_evaluation(result, sweep.algo, ctx.diverged_at)
    if ctx.status == "interrupted":
        result.summary["stopped_by"] = ctx.stop.signal_name or "another process's signal"
    return result


def run(
    config,
    make_learner: MakeLearner,
    algo: str,
    grid_values: Mapping[str, Sequence[float]] | None = None,
    *,
    write: bool = True,
    resume: str | Path | None = None,
    process_timeout: float = 90.0,
    stop: StopRequests | None = None,
) -> RunResult:
    """Trains `config.num_seeds` seeds at every grid point, in chunks of one compiled program.

    The phases: `set_up` (validate, run folder, learner, inputs on the devices), `start`
    (compile, initialise or restore), `train_chunks` (after each chunk, `CHUNK_STEPS`: sync the
    processes, mark runs whose loss became non-finite (failures in the results; the others go
    on), report progress, write live metrics, honour SIGINT/SIGTERM, save full-state checkpoints)
    and `finish` (the final outputs and exported policies).

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
        stop: the active `StopRequests` of a caller that took SIGINT/SIGTERM over already (the
            command line, from its start); by default `run` takes them over itself.

    Raises:
        ConfigError: a bad config value, before anything is compiled or written.
        CheckpointError: `resume` has no usable checkpoint for this config.
        RunFolderError: another process trains in the `resume` folder (it holds the lock).
        RunComplete: `resume` is a run that did all its updates; nothing was changed.
        StoppedBeforeTraining: SIGINT or SIGTERM came before training started; a new run's
            folder was removed, a resumed one is as it was.
    """
    with contextlib.nullcontext(stop) if stop is not None else StopRequests() as stop:
        sweep = set_up(
            config, make_learner, algo, grid_values,
            write=write, resume=resume, process_timeout=process_timeout,
        )  # fmt: skip
        try:
            try:
                stop.check()
                ctx = start(sweep, stop)
            except BaseException:
                if sweep.run_dir is not None and sweep.primary and sweep.first_update == 0:
                    discard_unstarted(sweep.run_dir)
                raise
            train_chunks(ctx)
            return finish(ctx)  # a signal now changes nothing: the run is done
        finally:
            if sweep.lock is not None:
                sweep.lock.release()


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
    """(state, metrics so far, diverged_at, notes, step taken) from the run folder's checkpoint
    of `step`, or from the newest intact one before it if it is damaged (a note says so).

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
    snapshot, notes = checkpoints.restore_newest_intact(
        run_dir, abstract, dtypes, num_runs, about, step
    )
    padded = jax.tree.leaves(state)[0].shape[0]

    def place(saved, like):
        saved = np.asarray(saved)
        if padded > num_runs:
            saved = np.concatenate([saved, np.repeat(saved[:1], padded - num_runs, axis=0)])
        is_key = jax.dtypes.issubdtype(like.dtype, jax.dtypes.prng_key)
        placed = jax.make_array_from_callback(saved.shape, like.sharding, lambda i: saved[i])
        return jax.random.wrap_key_data(placed) if is_key else placed

    restored = jax.tree.map(place, snapshot.state, state)
    step = snapshot.updates_done
    if not spec.vmappable and hasattr(state, "env_state"):  # offline learners keep no env
        env_state = envs.wrappers.restarted_host_env(restored.env_state, state.env_state)
        restored = restored.replace(env_state=env_state, obs=state.obs)
        notes.append(
            f"resumed at update {step}: envpool's emulator state cannot be saved, so the games "
            "restarted from a reset (everything else was restored)"
        )
    metrics = {k: np.asarray(v) for k, v in snapshot.metrics.items()}
    return restored, metrics, np.asarray(snapshot.diverged_at), notes, step
