"""Full-state checkpoints of a sweep with orbax-checkpoint: save, find, restore, inspect.

A checkpoint is everything a run needs to go on exactly where it stopped, for every run of the
sweep at once:

    state         the learner state of every run (leading axis = run): parameters, optimizer
                  state, env state and observation statistics, replay buffer, RNG keys, update
                  counter and whatever else the algorithm carries (KL beta, noise state, ...)
    metrics       every per-update metric so far, shape (updates_done, run)
    diverged_at   (run,) the update at which each run's loss became non-finite, -1 if never

They live in `<run_dir>/checkpoints/<updates_done>/`, one folder per save as orbax's
`CheckpointManager` lays them out; orbax writes each to a temporary folder and renames it when
complete, so a kill during a save leaves the previous checkpoint intact, and it keeps the last
`max_to_keep`. The step number of a save is the number of updates done.

The state is saved as the runner holds it, padding runs included (in a multi-process run every
process writes its own shards); `restore` drops the padding, so a checkpoint can be restored onto
another device or process count. PRNG keys are saved as their raw key data.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import io
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

CHECKPOINT_DIR = "checkpoints"
DEFAULT_BARRIER_TIMEOUT_S = 1200  # orbax's own default


class CheckpointError(ValueError):
    """A checkpoint folder is missing, empty, truncated or of another run."""


class DiskFullError(CheckpointError):
    """The disk filled up while writing a checkpoint (or the outputs beside it)."""


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` (or one it was raised from) is "no space left on device": an OSError
    with errno ENOSPC, or tensorstore's error text for it (orbax raises a ValueError)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(error) or "os_error_code='28'" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def remove_unfinished(run_dir: Path) -> None:
    """Removes the temporary folders of checkpoint saves that did not finish."""
    for tmp in (Path(run_dir) / CHECKPOINT_DIR).glob("*.orbax-checkpoint-tmp*"):
        shutil.rmtree(tmp, ignore_errors=True)


class Snapshot(NamedTuple):
    """What one checkpoint holds (host arrays)."""

    state: Any
    """The learner state of every run, leading axis = run (without padding). `save` takes it as
    the runner holds it (device arrays, PRNG keys typed, padding runs included); `restore`
    returns host arrays, PRNG keys as their raw key data."""
    metrics: dict[str, np.ndarray]
    """Per-update metrics so far, each (updates_done, run)."""
    diverged_at: np.ndarray
    """(run,) int64: the update at which each run diverged, -1 if it did not."""
    updates_done: int


def _is_key(x) -> bool:
    return jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key)


def _to_storable(tree: Any) -> Any:
    """Typed PRNG keys become their uint32 key data; arrays this process holds entirely become
    numpy arrays, the shards of a multi-process array stay device arrays for orbax to gather."""
    tree = jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)
    return jax.tree.map(
        lambda x: np.asarray(x) if getattr(x, "is_fully_addressable", True) else x, tree
    )


def _manager(
    run_dir: Path,
    max_to_keep: int | None = None,
    create: bool = False,
    timeout_s: float = DEFAULT_BARRIER_TIMEOUT_S,
):
    import orbax.checkpoint as ocp

    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep,
        enable_async_checkpointing=False,
        create=create,
        # how long orbax waits at its cross-process barriers (20 min by default), so that a lost
        # process is found within the run's own bound and not by JAX's heartbeat, which aborts
        async_options=ocp.AsyncOptions(timeout_secs=max(1, round(timeout_s))),
    )
    return ocp.CheckpointManager(Path(run_dir).absolute() / CHECKPOINT_DIR, options=options)


def save(
    run_dir: Path,
    snapshot: Snapshot,
    max_to_keep: int,
    about: dict,
    timeout_s: float = DEFAULT_BARRIER_TIMEOUT_S,
) -> None:
    """Writes `snapshot` as the checkpoint of step `snapshot.updates_done` (synchronously).

    Args:
        about: JSON facts saved beside the arrays and checked on restore (`algo`, `num_runs`).
        timeout_s: in a multi-process run, the longest wait for the other processes at one of
            orbax's barriers before the save fails.
    """
    import orbax.checkpoint as ocp

    tree = {
        "state": _to_storable(snapshot.state),
        "metrics": {k: np.asarray(v) for k, v in snapshot.metrics.items()},
        "diverged_at": np.asarray(snapshot.diverged_at, np.int64),
    }
    try:
        with _quiet_if_it_fails(), _manager(run_dir, max_to_keep, True, timeout_s) as manager:
            # a run resumed from an earlier checkpoint overwrites the later ones it repeats
            if snapshot.updates_done in manager.all_steps():
                manager.delete(snapshot.updates_done)
            padded = jax.tree.leaves(tree["state"])[0].shape[0]
            about = {**about, "padded_runs": padded, "shapes": _shapes(tree)}
            args = ocp.args.Composite(
                arrays=ocp.args.StandardSave(tree), about=ocp.args.JsonSave(about)
            )
            manager.save(snapshot.updates_done, args=args, force=True)
            manager.wait_until_finished()
    except Exception as error:
        if not is_disk_full(error):
            raise
        remove_unfinished(run_dir)
        last = latest_step(run_dir)
        raise DiskFullError(
            f"no space left on device writing checkpoint {snapshot.updates_done} in "
            f"{Path(run_dir) / CHECKPOINT_DIR}; last good checkpoint: "
            f"{'none' if last is None else last}"
        ) from None


def latest_step(run_dir: Path) -> int | None:
    """The step (updates done) of the newest complete checkpoint, None if there is none."""
    steps = all_steps(run_dir)
    return steps[-1] if steps else None


def all_steps(run_dir: Path) -> list[int]:
    """The steps of every complete checkpoint, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    with _absl_quiet(), _manager(run_dir) as manager:
        return sorted(manager.all_steps())


@contextlib.contextmanager
def _absl_quiet():
    """Holds back orbax's absl warnings (e.g. "Metadata file does not exist" for a checkpoint
    missing a file): the error or note about that checkpoint says what is wrong, in one line."""
    from absl import logging as absl_logging

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)


def restore_newest_intact(
    run_dir: Path,
    abstract_state: Any,
    metric_dtypes: dict[str, np.dtype],
    num_runs: int,
    about: dict,
    newest: int | None = None,
) -> tuple[Snapshot, list[str]]:
    """(snapshot, notes): the newest checkpoint (at most `newest`) that `restore` can read, and
    one note per newer checkpoint that it could not (damaged: truncated, a file missing), naming
    it and why. The same arguments as `restore`'s.

    Raises:
        CheckpointError: the newest checkpoint's error, when none of them can be read (or they
            are all of another run).
    """
    steps = [s for s in all_steps(run_dir) if newest is None or s <= newest]
    if not steps:
        raise CheckpointError(f"{Path(run_dir) / CHECKPOINT_DIR}: no complete checkpoint")
    failed: list[CheckpointError] = []
    for step in reversed(steps):
        try:
            snapshot = restore(run_dir, abstract_state, metric_dtypes, num_runs, about, step)
        except CheckpointError as error:
            failed.append(error)
            continue
        notes = [
            f"{error}; took checkpoint {step} instead, the newest intact one" for error in failed
        ]
        return snapshot, notes
    raise failed[0]


def restore(
    run_dir: Path,
    abstract_state: Any,
    metric_dtypes: dict[str, np.dtype],
    num_runs: int,
    about: dict,
    step: int | None = None,
) -> Snapshot:
    """The checkpoint of `step` (default: the latest), checked against the expected structure.

    Args:
        abstract_state: the learner state of `num_runs` runs as `jax.ShapeDtypeStruct`s (from
            `jax.eval_shape`), which the saved state must match leaf for leaf.
        metric_dtypes: metric name -> dtype, as the learner reports them.
        about: the facts `save` was given; each must match (another algorithm's checkpoint has
            another `algo`).

    Raises:
        CheckpointError: no checkpoint, or one whose structure, shapes or run count differ
            (another algorithm, another config, another sweep), or that cannot be read.
    """
    import orbax.checkpoint as ocp

    step = latest_step(run_dir) if step is None else step
    where = Path(run_dir) / CHECKPOINT_DIR
    if step is None:
        raise CheckpointError(f"{where}: no complete checkpoint")
    try:
        saved_about = json.loads((where / str(step) / "about" / "metadata").read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{where / str(step)}: no readable record ({error})") from None
    padded = int(saved_about.get("padded_runs", num_runs))
    target = {
        "state": jax.tree.map(
            lambda s: np.zeros((padded, *s.shape[1:]), s.dtype),
            jax.tree.map(
                lambda s: jax.eval_shape(jax.random.key_data, s) if _is_key(s) else s,
                abstract_state,
            ),
        ),
        "metrics": {k: np.zeros((step, num_runs), d) for k, d in metric_dtypes.items()},
        "diverged_at": np.zeros(num_runs, np.int64),
    }
    try:
        with _absl_quiet(), _manager(run_dir) as manager:
            for name, value in about.items():
                if saved_about.get(name) != value:
                    raise CheckpointError(
                        f"{where / str(step)}: written for {name}={saved_about.get(name)!r}, "
                        f"this run has {name}={value!r}"
                    )
            _check_structure(saved_about.get("shapes"), target, where / str(step))
            args = ocp.args.Composite(arrays=ocp.args.StandardRestore(target))
            with _quiet_if_it_fails():
                tree = manager.restore(step, args=args).arrays
    except CheckpointError:
        raise
    except Exception as error:  # orbax raises many kinds for a damaged folder
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        message = message.split(" [tensorstore_spec")[0]  # drop tensorstore's JSON spec dumps
        raise CheckpointError(f"{where / str(step)}: cannot be read ({message})") from None
    state = jax.tree.map(lambda x: x[:num_runs], tree["state"])
    return Snapshot(state, tree["metrics"], tree["diverged_at"], step)


@contextlib.contextmanager
def _quiet_if_it_fails(grace_s: float = 0.5):
    """Holds back what is printed to `sys.stderr` during a save or restore; drops it if it fails.

    When one array of a damaged checkpoint cannot be read, orbax closes its event loop while
    tensorstore's other reads are still in flight; each of them then prints a "RuntimeError:
    Event loop is closed" traceback from a background thread, dozens in all, after the real
    error. They finish within milliseconds, so waiting `grace_s` before putting stderr back
    keeps them out of the one-line error the user sees. On success the held text is printed.
    """
    held, real = io.StringIO(), sys.stderr
    sys.stderr = held
    # logging handlers (orbax's absl errors) hold the stream they were made with: hold theirs too
    handlers = [
        h
        for name in (None, "absl")
        for h in logging.getLogger(name).handlers
        if isinstance(h, logging.StreamHandler) and h.stream is real
    ]
    for handler in handlers:
        handler.setStream(held)
    try:
        yield
    except Exception:
        time.sleep(grace_s)
        gc.collect()  # asyncio's "Task exception was never retrieved" is logged on collection
        raise
    else:
        real.write(held.getvalue())
    finally:
        sys.stderr = real
        for handler in handlers:
            handler.setStream(real)


def _shapes(tree: Any) -> dict[str, list[int]]:
    """Path -> shape of every leaf, e.g. {"['state'].params['params']['Dense_0']['bias']": [8, 2]}."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): list(np.shape(leaf)) for path, leaf in flat}


def _check_structure(saved: dict | None, target: Any, where: Path) -> None:
    """Raises `CheckpointError` unless the saved tree has the target's paths and shapes."""
    if saved is None:
        raise CheckpointError(f"{where}: no record of its arrays; the checkpoint is incomplete")
    expected = _shapes(target)
    missing = sorted(set(expected) - set(saved))
    extra = sorted(set(saved) - set(expected))
    if missing or extra:
        detail = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(
            f"{where}: holds another learner's state ({detail}); was it written by another "
            "algorithm or config?"
        )
    for path, shape in expected.items():
        if list(saved[path]) != shape:
            raise CheckpointError(
                f"{where}: {path} has shape {tuple(saved[path])}, expected {tuple(shape)} "
                "(another run count or config?)"
            )
