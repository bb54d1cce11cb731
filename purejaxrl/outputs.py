"""What a run leaves on disk, written atomically: <runs-dir>/<env-id>/<algo>/<time>/

    config.json       the resolved config, the grid and the seed of every run
    metrics.npz       every per-update metric, shape (grid, seed, update), plus env_steps (update,)
    summary.json      status (running, complete, interrupted, all runs diverged), updates done,
                      final return per grid point (mean, IQM, 95% bootstrap CIs over seeds),
                      diverged runs, steps/s, compile and run time, versions, device
    curve.png         learning curves: mean over seeds and 95% CI band per grid point
    checkpoints/<U>/  full-state orbax checkpoints after U updates (`purejaxrl.checkpoints`)
    tensorboard/      live metrics, written at every chunk (`purejaxrl.live`)

metrics.npz, summary.json and curve.png are rewritten at every checkpoint, so a folder whose
summary says "running" is a run that is still going or was killed; `--resume` continues it. The
runner (`purejaxrl.runner`) hands this module what a run has done so far; `run_summary` turns it
into summary.json's content and `write_results` writes the three files.

Each file is written to a temporary name in the same folder and renamed into place, so a reader
never sees half a file and a failed run keeps what it had already written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import platform
import re
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np

from purejaxrl.checks import ConfigError
from purejaxrl.stats import bootstrap_ci, iqm, mean_and_band

FINAL_FRACTION = 0.05
"""The final return of a run averages the episodes that ended in its last 5% of updates."""


DIVERGED_RULE = (
    "a run whose loss became non-finite is scored at the worst training return any run of the "
    "sweep recorded (the lowest per-update mean return, before divergence), counted in "
    "diverged_seeds, and kept in the mean, IQM and intervals; its own entry in "
    "final_return_per_seed is null"
)
"""How diverged runs enter the statistics: as failures, not dropped (which would flatter an
algorithm whose seeds sometimes diverge)."""


FINAL_RETURN_DEFINITION = (
    f"per seed, the mean undiscounted return of the training episodes (played by the exploring "
    f"policy: epsilon-greedy or sampled actions) that ended in the last {FINAL_FRACTION:.0%} of "
    f"updates; statistics over seeds; {DIVERGED_RULE}"
)
"""summary.json's `final_return_definition`."""


def final_return_definition(config) -> str:
    """summary.json's `final_return_definition` for `config`: `FINAL_RETURN_DEFINITION`, or, for
    a config class whose returns come from other episodes (`returns_played_by`), those."""
    played_by = getattr(config, "returns_played_by", "")
    if not played_by:
        return FINAL_RETURN_DEFINITION
    return (
        f"per seed, the mean undiscounted return of {played_by} in the last "
        f"{FINAL_FRACTION:.0%} of updates; statistics over seeds; {DIVERGED_RULE}"
    )


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes `data` to `path` via a temporary file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def env_folder_name(env_id: str) -> str:
    """The folder name of an env id: characters other than letters, digits, `.`, `_` and `-`
    become `_`, so that suite ids (`craftax:Craftax-Classic-Symbolic-v1`) make no colon, which
    TensorBoard's `--logdir_spec` (name:path) and some file systems read specially."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", env_id)


def new_run_dir(runs_dir: str | Path, env_id: str, algo: str) -> Path:
    """Creates and returns a fresh `<runs_dir>/<env folder>/<algo>/<YYYYmmdd-HHMMSS>[-k]` folder
    (the env folder: `env_folder_name(env_id)`)."""
    root = Path(runs_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"runs_dir={str(runs_dir)!r}: is a file, not a folder")
    parent = root / env_folder_name(env_id) / algo
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"runs_dir={str(runs_dir)!r}: cannot create {parent} ({error.strerror})"
        ) from None
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"runs_dir={str(runs_dir)!r}: {parent} is not writable")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for k in range(1000):
        path = parent / (stamp if k == 0 else f"{stamp}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a fresh run folder under {parent}")


def config_record(algo: str, config, grid, num_seeds: int) -> dict:
    """What config.json holds: enough to rebuild every run's config and its place in the grid."""
    return {
        "algo": algo,
        "config": dataclasses.asdict(config),
        "grid": {name: list(values) for name, values in grid.axes.items()},
        "grid_labels": grid.labels(),
        "num_seeds": num_seeds,
        "run_order": "run r is grid point r // num_seeds, seed r % num_seeds",
    }


def save_metrics(run_dir: Path, metrics: dict[str, np.ndarray], env_steps: np.ndarray) -> None:
    """Saves metrics of shape (grid, seed, update) and the env steps at the end of each update."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, env_steps=env_steps, **metrics)
    atomic_write_bytes(run_dir / "metrics.npz", buffer.getvalue())


def final_returns(metrics: dict[str, np.ndarray]) -> np.ndarray:
    """Per run, the mean return of the episodes that ended in the last `FINAL_FRACTION` of updates.

    Args:
        metrics: `episode_return` and `episodes`, shape (..., update).

    Returns:
        shape (...,); NaN for a run in which no episode ended in that window.
    """
    returns, counts = metrics["episode_return"], metrics["episodes"]
    window = max(1, round(FINAL_FRACTION * returns.shape[-1]))
    r, c = returns[..., -window:], counts[..., -window:].astype(np.float64)
    total = np.nansum(np.where(c > 0, r * c, 0.0), axis=-1)
    n = c.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan)


def worst_return(metrics: dict[str, np.ndarray]) -> float | None:
    """The lowest finite training return (per-update mean over ended episodes) of any run, or
    None if no episode ended anywhere. Diverged runs' metrics are already masked from their
    divergence on, so a non-finite return never counts."""
    returns = np.asarray(metrics["episode_return"], dtype=np.float64)
    finite = returns[np.isfinite(returns)]
    return float(finite.min()) if finite.size else None


def seed_statistics(
    name: str, per_seed: np.ndarray, diverged: np.ndarray, worst: float | None
) -> dict[str, Any]:
    """`<name>_mean`, `_ci95`, `_iqm` and `_iqm_ci95` over the seeds of one grid point, the
    diverged seeds scored at `worst` (`DIVERGED_RULE`) and seeds without a score (NaN) left out.

    Args:
        per_seed: (seed,) scores; diverged: (seed,) bool.
    """
    scored = np.where(diverged, np.nan if worst is None else worst, per_seed)
    finite = scored[np.isfinite(scored)]
    return {
        f"{name}_mean": float(finite.mean()) if finite.size else None,
        f"{name}_ci95": bootstrap_ci(finite),
        f"{name}_iqm": float(iqm(finite)) if finite.size else None,
        f"{name}_iqm_ci95": bootstrap_ci(finite, statistic=iqm),
    }


def summarize(
    metrics: dict[str, np.ndarray], grid_labels: list[str], diverged: np.ndarray | None = None
) -> list[dict]:
    """Per grid point: final return mean, IQM and their 95% bootstrap CIs over every seed.

    A diverged run counts as a failure (`DIVERGED_RULE`): scored at `worst_return` over the whole
    sweep, so the statistics are over all seeds. A run in which no episode ended in the final
    window (and which did not diverge) has no score and is left out.

    Args:
        metrics: shape (grid, seed, update).
        diverged: (grid, seed) bool, the runs whose loss became non-finite: their own final return
            is None, they are counted in `diverged_seeds`, and `diverged_scored_at` is the score
            they enter the statistics with.
    """
    finals = final_returns(metrics)  # (grid, seed)
    if diverged is None:
        diverged = np.zeros(finals.shape, bool)
    finals = np.where(diverged, np.nan, finals)
    worst = worst_return(metrics) if diverged.any() else None
    rows = []
    for label, per_seed, lost in zip(grid_labels, finals, diverged, strict=True):
        rows.append(
            {
                "grid_point": label,
                **seed_statistics("final_return", per_seed, lost, worst),
                "final_return_per_seed": [
                    None if not np.isfinite(x) else float(x) for x in per_seed
                ],
                "diverged_seeds": int(lost.sum()),
                "diverged_scored_at": worst if lost.any() else None,
            }
        )
    return rows


@dataclass
class Timings:
    """Seconds a run spent, as summary.json reports them."""

    compile: float = 0.0
    """Compiling the init and chunk programs."""
    run: float = 0.0
    """Initialising and training, the processes' check-in and metric gather included."""
    checkpoint: float = 0.0
    """Saving checkpoints (not in `run`)."""
    sync: float = 0.0
    """The processes' check-in and metric gather (part of `run`)."""


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


def run_summary(
    algo: str,
    env_id: str,
    status: str,
    metrics: dict[str, np.ndarray],
    labels: list[str],
    diverged_at: np.ndarray,
    *,
    first_update: int,
    num_updates: int,
    steps_per_update: int,
    chunk_updates: int,
    notes: list[str],
    times: Timings,
    total_timesteps: int | None = None,
    definition: str = FINAL_RETURN_DEFINITION,
) -> dict:
    """What summary.json holds: status, results per grid point, diverged runs, times, versions.

    Args:
        status: running, complete, interrupted, or all runs diverged.
        metrics: every update done so far, shape (grid, seed, update), diverged runs masked
            from their divergence on (`purejaxrl.runner.mask_diverged`).
        diverged_at: (grid, seed) the update at which each run diverged, -1 if it did not.
        first_update: the update this process started from (0, or a resumed checkpoint's);
            steps per second count the updates done since.
        times: seconds spent so far in this process.
        total_timesteps: the budget asked for; the run trains it rounded down to whole updates
            (`total_timesteps_trained`).
        definition: what the final return is (`final_return_definition`).
    """
    num_grid, num_seeds = diverged_at.shape
    num_runs = num_grid * num_seeds
    done = next(iter(metrics.values())).shape[-1]
    return {
        "algo": algo,
        "env_id": env_id,
        "status": status,
        "updates_done": done,
        "num_updates": num_updates,
        "num_seeds": num_seeds,
        "grid_points": num_grid,
        "env_steps_per_run": int(done * steps_per_update),
        "total_timesteps_asked": total_timesteps,
        "total_timesteps_trained": num_updates * steps_per_update,
        "final_return_definition": definition,
        "results": summarize(metrics, labels, diverged_at >= 0),
        "diverged": [
            {"grid_point": labels[g], "seed": int(s), "update": int(diverged_at[g, s])}
            for g, s in np.argwhere(diverged_at >= 0)
        ],
        "notes": notes,
        "compile_time_s": times.compile,
        "run_time_s": times.run,
        "checkpoint_time_s": times.checkpoint,
        "sync_time_s": times.sync,
        "steps_per_second": (done - first_update) * steps_per_update * num_runs / times.run,
        "chunk_updates": chunk_updates,
        **environment_record(),
    }


def write_results(
    run_dir: Path,
    metrics: dict[str, np.ndarray],
    diverged_at: np.ndarray,
    env_steps: np.ndarray,
    summary: dict,
    labels: list[str],
    title: str,
    step_unit: str = "env steps",
) -> None:
    """Writes metrics.npz (with `diverged_at`), summary.json and curve.png of a run so far.

    Args:
        metrics: shape (grid, seed, update), as in `run_summary`.
        diverged_at: (grid, seed), -1 for a run that did not diverge.
        env_steps: (update,) env steps per run at the end of each update.
        labels: the grid points' labels, for the curves' legend.
        step_unit: what the steps count (the config's `step_unit`), for the x axis.
    """
    save_metrics(run_dir, {**metrics, "diverged_at": diverged_at}, env_steps)
    atomic_write_json(run_dir / "summary.json", summary)
    xlabel = f"{step_unit} (per run)".replace("env steps", "environment steps")
    plot_curves(run_dir / "curve.png", env_steps, metrics["episode_return"], labels, title, xlabel)


def forward_fill(x: np.ndarray) -> np.ndarray:
    """Replaces each NaN along the last axis by the latest finite value before it."""
    idx = np.where(np.isfinite(x), np.arange(x.shape[-1]), 0)
    idx = np.maximum.accumulate(idx, axis=-1)
    filled = np.take_along_axis(x, idx, axis=-1)
    seen = np.maximum.accumulate(np.isfinite(x), axis=-1)
    return np.where(seen, filled, np.nan)


def plural(count: int, noun: str) -> str:
    """ "1 seed", "2 seeds"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def plot_curves(
    path: Path,
    env_steps,
    returns,
    labels: list[str],
    title: str,
    xlabel: str = "environment steps (per run)",
    ylabel: str = "episode return",
) -> None:
    """Learning curves (mean over seeds, 95% bootstrap band) per grid point, as a PNG (of
    episode returns unless `ylabel` names another quantity, e.g. a win rate).

    Args:
        env_steps: shape (update,), shared by every curve; or one such array per curve when the
            curves were logged at different steps (several algorithms in one plot).
        returns: episode returns per update, shape (grid, seed, update), or a list of
            (seed, update) arrays; NaN where no episode ended; each run's curve carries its latest
            return forward.
    """
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    if isinstance(env_steps, np.ndarray) and env_steps.ndim == 1:
        env_steps = [env_steps] * len(labels)
    fig = Figure(figsize=(7, 4.2), dpi=120)
    ax = fig.subplots()
    for steps, label, curves in zip(env_steps, labels, returns, strict=True):
        mean, low, high = mean_and_band(forward_fill(curves))
        marker = "o" if len(steps) == 1 else None  # a single point draws no line
        (line,) = ax.plot(
            steps, mean, marker=marker, label=label or plural(curves.shape[0], "seed")
        )
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(
        loc="best", fontsize="small", title="mean over seeds, band: 95% bootstrap CI",
        title_fontsize="small",
    )  # fmt: skip
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


class RunFolderError(ConfigError):
    """A path that is not a usable run folder (missing, no or broken config.json, ...)."""


LOCK_FILE = ".lock"


class RunFolderLock:
    """An advisory lock on a run folder, held while a process trains in it (`fcntl.flock` on
    `<run_dir>/.lock`, which holds the holder's pid). The system drops it when the process
    ends, however it ends, so a killed run leaves no stale lock; the file itself stays."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.file = None

    def acquire(self) -> RunFolderLock:
        """Takes the lock.

        Raises:
            RunFolderError: another process holds it (naming its pid).
        """
        try:
            import fcntl
        except ImportError:  # not a POSIX system: no lock
            return self
        path = self.run_dir / LOCK_FILE
        file = open(path, "a+")  # noqa: SIM115 (held open as long as the lock)
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.seek(0)
            holder = file.read().strip() or "unknown"
            file.close()
            raise RunFolderError(
                f"{self.run_dir}: in use by process {holder} (a run or a --resume of it); wait "
                "for it to end or stop it first"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        self.file = file
        return self

    def release(self) -> None:
        if self.file is not None:
            self.file.close()  # closing the file drops the lock
            self.file = None


def read_summary(run_dir: Path) -> dict | None:
    """summary.json of a run folder, or None when it is missing or unreadable."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def read_record(run_dir: str | Path) -> dict:
    """config.json of a run folder, checked: a folder, readable JSON, an algorithm's record.

    Raises:
        RunFolderError: naming what is wrong.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: no such run folder")
    path = run_dir / "config.json"
    if not path.is_file():
        raise RunFolderError(f"{run_dir}: no config.json; expected a run folder made by the runner")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(record, dict):
        raise RunFolderError(f"{path}: not a run record (a JSON object), got {record!r:.40}")
    missing = [k for k in ("algo", "config", "grid", "grid_labels", "num_seeds") if k not in record]
    if missing:
        raise RunFolderError(f"{path}: not a run record (missing {', '.join(missing)})")
    for key, kind in (("algo", str), ("config", dict), ("grid", dict), ("grid_labels", list)):
        if not isinstance(record[key], kind):
            raise RunFolderError(f"{path}: {key} is {record[key]!r}, expected a {kind.__name__}")
    num_seeds = record["num_seeds"]
    if type(num_seeds) is not int or num_seeds < 1:
        raise RunFolderError(f"{path}: num_seeds is {num_seeds!r}, expected an int >= 1")
    for name, values in record["grid"].items():
        if not (isinstance(values, list) and values and all(map(_is_number, values))):
            raise RunFolderError(f"{path}: grid.{name} is {values!r}, expected a list of numbers")
    return record


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fits_type(value, hint) -> bool:
    """Whether a JSON value fits a config field's annotation (bool, int, float, str, Literal,
    tuple[X, ...], unions of them); other annotations are left to the config's own checks."""
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return type(value) is int
    if hint is float:
        return _is_number(value)
    if hint is str:
        return isinstance(value, str)
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        items = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        return isinstance(value, list) and (
            items is None or all(fits_type(v, items) for v in value)
        )
    if origin in (typing.Union, types.UnionType):
        return any(fits_type(value, a) for a in args)
    return True


def config_from_record(config_cls: type, record: dict, source: str | Path = "config.json"):
    """(config, grid values) that rebuild the sweep a run folder's config.json describes (as
    `read_record` returns it; `source` names the file in errors).

    Raises:
        RunFolderError: a field whose value does not fit its type or its range, naming the file
            and the field.
    """
    import typing

    hints = typing.get_type_hints(config_cls)
    fields = {}
    for f in dataclasses.fields(config_cls):
        if f.name not in record["config"]:
            continue  # a field added since the run started keeps its default
        value = record["config"][f.name]
        if not fits_type(value, hints[f.name]):
            kind = getattr(hints[f.name], "__name__", str(hints[f.name]))
            raise RunFolderError(f"{source}: config.{f.name} is {value!r}, expected {kind}")
        fields[f.name] = tuple(value) if typing.get_origin(hints[f.name]) is tuple else value
    try:
        config = config_cls(**fields)
        config.validate()
    except TypeError as error:
        raise RunFolderError(f"{source} does not fit {config_cls.__name__}: {error}") from None
    except ConfigError as error:
        raise RunFolderError(f"{source}: {error}") from None
    return config, {name: list(values) for name, values in record["grid"].items()}
