"""Live metrics of a training sweep, written at chunk boundaries: TensorBoard, optionally W&B.

The runner advances every run of a sweep (G grid points x S seeds) by a chunk of K updates, then
hands this module the chunk's per-update metrics, shape (G, S, K), and the env steps per run at
the end of each update, shape (K,). `LiveLog.write` turns them into scalar series whose x axis
(global step) is env steps per run:

    <run_dir>/tensorboard/   TensorBoard event files (`tensorboard --logdir runs` shows every run)
    <run_dir>/wandb/         the Weights & Biases run, when a W&B project is given

Tags (the same keys are logged to W&B):

    <metric>/<label>/mean       mean over seeds of grid point <label>, e.g. episode_return/lr=0.0003/mean
    <metric>/<label>/seed_<s>   the run of grid point <label> with seed index s (0-based), per-run only
    <metric>/mean               the same two when the sweep has one default grid point (label "")
    <metric>/seed_<s>

TensorBoard groups charts by the part before the first "/", so each metric gets one section
holding every grid point's mean (and runs). Labels are used verbatim, except that a "/" in a
label becomes "_" so that every tag has the same depth. Series seed_<s> of grid point g is run
`g * S + s` of the sweep, as in config.json's `run_order`. One event holds all the scalars of an
update; its wall time is that of the `write`.

Values: the mean over seeds is `np.nanmean` (the seeds that have a value; an `episode_return` is
NaN in an update in which no episode ended). NaN is never written: a mean whose seeds are all NaN
and a run's NaN value are skipped, so a series simply has no point at that step. Integer and
boolean metrics are written as floats. Infinite values are written as they are.

Per-run series: with `per_run=None` they are written when the sweep has at most
`PER_RUN_LIMIT` (64) runs and not above, so a sweep of thousands of runs writes G series per
metric rather than G * S; pass `per_run=True` or `False` to choose.

Resuming: a run resumed from a checkpoint at env step P passes `purge_step=P`; TensorBoard then
drops the events of step >= P that the earlier process wrote, so no step shows twice. W&B has
no such purge: the resumed process logs to a new W&B run.

The event files are flushed at the end of every `write`, so a live TensorBoard sees each chunk.
Neither tensorboardX nor wandb is imported before a `LiveLog` is made, and this module does not
import JAX.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

PER_RUN_LIMIT = 64
"""With `per_run=None`, per-run series are written for sweeps of at most this many runs."""

WANDB_MISSING = "--wandb-project needs the wandb extra: pip install 'purejaxrl[wandb]'"


def require_wandb() -> Any:
    """Imports and returns the `wandb` module; a `ConfigError` if the wandb extra is missing.

    The runner may call it while validating its config, before any compilation.
    """
    try:
        import wandb
    except ImportError:
        from purejaxrl.config import ConfigError  # imported here: purejaxrl.config imports jax

        raise ConfigError(WANDB_MISSING) from None
    return wandb


def series_prefix(label: str) -> str:
    """The part of a tag naming a grid point: '' for the default grid point, else 'label/'."""
    label = label.replace("/", "_")
    return f"{label}/" if label else ""


def chunk_scalars(
    metrics: dict[str, np.ndarray], labels: list[str], per_run: bool
) -> list[dict[str, float]]:
    """The scalars of one chunk, one dict per update: tag -> value, with NaN left out.

    Args:
        metrics: name -> shape (G, S, K); G = len(labels).
        labels: the label of each grid point.
        per_run: whether to include the per-run series as well as the means over seeds.

    Returns:
        K dicts; the k-th holds every scalar of update k that is not NaN.
    """
    num_updates = next(iter(metrics.values())).shape[-1] if metrics else 0
    rows: list[dict[str, float]] = [{} for _ in range(num_updates)]
    prefixes = [series_prefix(label) for label in labels]
    for name, values in metrics.items():
        values = np.asarray(values, dtype=np.float64)  # (G, S, K)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no episode ended
            means = np.nanmean(values, axis=1)  # (G, K)
        for g, prefix in enumerate(prefixes):
            _add_series(rows, f"{name}/{prefix}mean", means[g])
            if per_run:
                for s in range(values.shape[1]):
                    _add_series(rows, f"{name}/{prefix}seed_{s}", values[g, s])
    return rows


def _add_series(rows: list[dict[str, float]], tag: str, series: np.ndarray) -> None:
    """Puts series[k] under `tag` in rows[k] for every k where it is not NaN; series: (K,)."""
    for k in np.flatnonzero(~np.isnan(series)):
        rows[k][tag] = float(series[k])


class LiveLog:
    """Writes a sweep's per-update metrics, chunk by chunk, to TensorBoard and optionally W&B.

    Use it as a context manager, or call `close` when training ends:

        with LiveLog(run_dir, grid.labels(), num_seeds) as live:
            for chunk in ...:
                live.write(env_steps, metrics)  # (K,), name -> (G, S, K)
    """

    def __init__(
        self,
        run_dir: Path,
        labels: list[str],
        num_seeds: int,
        *,
        per_run: bool | None = None,
        wandb_project: str | None = None,
        wandb_config: dict | None = None,
        purge_step: int | None = None,
        run_name: str | None = None,
    ):
        """Opens the event files (and the W&B run, when `wandb_project` is given).

        Args:
            run_dir: the run's output folder; event files go to `run_dir/tensorboard/`.
            labels: one label per grid point (G of them); [""] for a single default grid point.
            num_seeds: S, the seeds per grid point.
            per_run: write per-run series too; None means when G * S <= `PER_RUN_LIMIT`.
            wandb_project: log to this W&B project as well; needs the wandb extra.
            wandb_config: the config W&B records with the run (e.g. config.json's contents).
            purge_step: the env step this process resumes from: events of step >= it that an
                earlier process wrote are hidden from TensorBoard.
            run_name: the W&B run's display name.

        Raises:
            ConfigError: `wandb_project` is given and wandb is not installed.
        """
        if not labels:
            raise ValueError("labels must name at least one grid point ([''] for the default one)")
        if num_seeds < 1:
            raise ValueError(f"num_seeds must be at least 1, got {num_seeds}")
        wandb = require_wandb() if wandb_project is not None else None
        self.run_dir = Path(run_dir)
        self.labels = list(labels)
        self.num_seeds = num_seeds
        self.per_run = (len(labels) * num_seeds <= PER_RUN_LIMIT) if per_run is None else per_run
        self.log_dir = self.run_dir / "tensorboard"
        self.log_dir.mkdir(parents=True, exist_ok=True)

        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        # tensorboardX's SummaryWriter hands events to a background thread whose queue its
        # flush() does not wait for, so the events are written here, synchronously, to a file
        # named as SummaryWriter names its files. The nanosecond suffix keeps a resumed process
        # from reusing (and truncating) the file of one that started in the same second, and
        # sorts the files in the order they were made, which is the order TensorBoard reads them.
        self._events = EventsWriter(str(self.log_dir / "events"), f".{time.time_ns()}")
        if purge_step is not None:
            # What SummaryWriter(purge_step=P) writes: on reading a START at step P, TensorBoard
            # drops the events of step >= P read before it, i.e. those of the earlier process.
            self._events.write_event(
                Event(
                    wall_time=time.time(),
                    step=int(purge_step),
                    session_log=SessionLog(status=SessionLog.START),
                )
            )
            self._events.flush()
        self._wandb_run = None
        if wandb is not None:
            try:
                self._wandb_run = wandb.init(
                    project=wandb_project, config=wandb_config, name=run_name, dir=str(self.run_dir)
                )
            except BaseException:
                self._events.close()
                raise
        self._closed = False

    def write(self, env_steps: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
        """Logs one chunk of K updates and flushes the event files.

        Args:
            env_steps: shape (K,) int, the env steps per run at the end of each update.
            metrics: name -> shape (G, S, K), float (NaN where there is no value) or int.
        """
        if self._closed:
            raise RuntimeError("LiveLog.write after close")
        env_steps = np.asarray(env_steps)
        if env_steps.ndim != 1:
            raise ValueError(f"env_steps must have shape (K,), got {env_steps.shape}")
        expected = (len(self.labels), self.num_seeds, env_steps.shape[0])
        for name, values in metrics.items():
            if np.shape(values) != expected:
                raise ValueError(
                    f"metric {name!r} has shape {np.shape(values)}, expected (grid, seed, update) "
                    f"= {expected}"
                )
        if not metrics:
            return
        rows = chunk_scalars(metrics, self.labels, self.per_run)
        self._write_tensorboard(env_steps, rows)
        if self._wandb_run is not None:
            for step, row in zip(env_steps, rows, strict=True):
                if row:
                    self._wandb_run.log(row, step=int(step), commit=True)

    def _write_tensorboard(self, env_steps: np.ndarray, rows: list[dict[str, float]]) -> None:
        """One event per update holding all of its scalars; then a flush."""
        from tensorboardX.proto.event_pb2 import Event

        # Summaries are built here rather than with tensorboardX's `scalar`, which would rewrite
        # '=' and ',' in labels to '_', and one event holds a whole update.
        walltime = time.time()
        for step, row in zip(env_steps, rows, strict=True):
            if row:
                event = Event(wall_time=walltime, step=int(step))
                add = event.summary.value.add
                for tag, value in row.items():
                    add(tag=tag, simple_value=value)
                self._events.write_event(event)
        self._events.flush()

    def close(self) -> None:
        """Flushes and closes the event files and finishes the W&B run; a second call does nothing."""
        self._close(exit_code=0)

    def _close(self, exit_code: int) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._events.close()
        finally:
            if self._wandb_run is not None:
                self._wandb_run.finish(exit_code=exit_code)

    def __enter__(self) -> LiveLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Closes; a W&B run left by an exception is marked failed (exit code 1)."""
        self._close(exit_code=0 if exc_type is None else 1)
