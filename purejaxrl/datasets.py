"""Datasets of transitions on disk: the format, an atomic writer and a checking loader.

A dataset is a folder written by `purejaxrl collect` (`purejaxrl/collect.py`) and read by the
offline algorithms (`purejaxrl/bc.py`, through `purejaxrl/offline.py`):

    DATASET/
      metadata.json   the format version, where the data came from (run folder, checkpoint,
                      policy mode, seed, split name) and the env spec it was recorded on
      data.npz        the arrays below (uncompressed numpy .npz)

Arrays of the transitions, M rows, one per env step (D4RL's names, terminals and timeouts kept
apart as gymnax 1.0 keeps them):

    observations       (M, *obs_shape) float32   the observation the action was taken in
    actions            (M,) int32 discrete, (M, *action_shape) float32 continuous (the action
                       the env executed: continuous ones clipped to the action space)
    rewards            (M,) float32
    next_observations  (M, *obs_shape) float32   the observation after the step, before any
                       auto-reset: at an episode's end, its final observation
    terminals          (M,) bool   the episode terminated (no bootstrapping from next_observations)
    timeouts           (M,) bool   the episode was truncated by its time limit (bootstrap)
    stream_ends        (M,) bool   the last step recorded of one env's stream (collection stopped
                       there; neither flag need be set): trajectories are the runs of rows between
                       a row with any of the three flags and the next
and of the episodes that ended during collection:

    episode_returns    (K,) float32   undiscounted return of each episode, in order of ending
    episode_lengths    (K,) int32

Rows are in stream order: the whole stream of env 0 first (its steps in time order), then env
1's, ...; a concatenated dataset (medium-expert) appends the streams of its parts. Observations
are the env's own (raw), never normalised by the policy that collected them.

Why not Minari's format: `minari` 0.5.4 installs beside our dependencies (it adds typer and
needs gymnasium), but writing or reading its datasets needs one of its storage back ends, the
optional extras `arrow` (pyarrow) or `hdf5` (h5py), neither of which we depend on, plus
gymnasium spaces and a gymnasium env spec for every dataset, and it stores data per episode; our envs are gymnax's, our
collection is many parallel streams cut at a fixed step count, and the two files here are read
with numpy and json alone. The field names are D4RL's (plus next_observations), so a converter to
Minari or D4RL is a key-for-key copy.

`FORMAT_VERSION` is bumped whenever a field's meaning, name, shape or dtype changes; `load`
refuses a version it does not know. A folder is written to a temporary sibling and renamed, so
a dataset is complete or absent.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from purejaxrl import envs
from purejaxrl.checks import ConfigError

FORMAT = "purejaxrl-dataset"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
DATA_FILE = "data.npz"

STEP_FIELDS = (
    "observations", "actions", "rewards", "next_observations", "terminals", "timeouts",
    "stream_ends",
)  # fmt: skip
"""The per-step arrays, (M, ...) each."""
EPISODE_FIELDS = ("episode_returns", "episode_lengths")
"""The per-episode arrays, (K,) each."""
SPLITS = ("random", "medium", "expert", "medium-replay", "medium-expert", "custom")
"""D4RL's split names (what the data is meant to stand for), and custom for anything else."""


class DatasetError(ConfigError):
    """A dataset that cannot be used: missing, damaged, of another format version, env or spec.
    The message is one line naming the dataset and what is wrong."""


@dataclass(frozen=True)
class Dataset:
    """A dataset in memory: the arrays (numpy) and the metadata."""

    arrays: dict[str, np.ndarray]
    """`STEP_FIELDS` and `EPISODE_FIELDS` by name."""
    metadata: dict[str, Any]
    """metadata.json's content: format, format_version, split, env (`spec_record`), source."""

    def __len__(self) -> int:
        return int(self.arrays["rewards"].shape[0])

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def env_id(self) -> str:
        return self.metadata["env"]["env_id"]

    @property
    def env_options(self) -> dict[str, Any]:
        return dict(self.metadata["env"]["options"])

    def mean_return(self) -> float:
        """Mean return of the episodes that ended during collection (NaN if none did)."""
        returns = self.arrays["episode_returns"]
        return float(returns.mean()) if returns.size else float("nan")

    def episodes_text(self) -> str:
        """ "K complete episodes of mean return R", or "no complete episode"."""
        count = self.arrays["episode_returns"].size
        if not count:
            return "no complete episode"
        return f"{count} complete episode{'' if count == 1 else 's'} of mean return {self.mean_return():.1f}"


def spec_record(spec: envs.EnvSpec) -> dict[str, Any]:
    """The facts of an env spec a dataset must agree with, as JSON: id, options, suite, episode
    limit, the observation space (shape) and the action space (discrete: n; continuous: shape
    and bounds)."""
    obs, action = spec.observation_space, spec.action_space
    if spec.discrete_actions:
        action_record = {"kind": "discrete", "n": spec.num_actions}
    else:
        action_record = {
            "kind": "box",
            "shape": list(action.shape),
            "low": np.broadcast_to(np.asarray(action.low, np.float64), action.shape).tolist(),
            "high": np.broadcast_to(np.asarray(action.high, np.float64), action.shape).tolist(),
        }
    return {
        "env_id": spec.env_id,
        "options": [[k, list(v) if isinstance(v, tuple) else v] for k, v in spec.options],
        "suite": spec.suite,
        "episode_limit": spec.episode_limit,
        "observation_shape": list(obs.shape),
        "action": action_record,
    }


def expected_dtypes(spec_rec: dict) -> dict[str, np.dtype]:
    """The dtype of every array, given the dataset's env record."""
    discrete = spec_rec["action"]["kind"] == "discrete"
    return {
        "observations": np.dtype(np.float32),
        "actions": np.dtype(np.int32 if discrete else np.float32),
        "rewards": np.dtype(np.float32),
        "next_observations": np.dtype(np.float32),
        "terminals": np.dtype(bool),
        "timeouts": np.dtype(bool),
        "stream_ends": np.dtype(bool),
        "episode_returns": np.dtype(np.float32),
        "episode_lengths": np.dtype(np.int32),
    }


def expected_shapes(spec_rec: dict, rows: int, episodes: int) -> dict[str, tuple[int, ...]]:
    """The shape of every array, given the env record, M rows and K episodes."""
    obs = tuple(spec_rec["observation_shape"])
    action = () if spec_rec["action"]["kind"] == "discrete" else tuple(spec_rec["action"]["shape"])
    shapes = {name: (rows,) for name in STEP_FIELDS}
    shapes.update(observations=(rows, *obs), next_observations=(rows, *obs))
    shapes["actions"] = (rows, *action)
    shapes.update(episode_returns=(episodes,), episode_lengths=(episodes,))
    return shapes


def check(dataset: Dataset, where: str | Path = "dataset") -> None:
    """Raises `DatasetError` (one line) unless every array has the shape and dtype the metadata's
    env record asks for, and the flags and episodes agree."""
    arrays, spec_rec = dataset.arrays, dataset.metadata["env"]
    missing = [name for name in (*STEP_FIELDS, *EPISODE_FIELDS) if name not in arrays]
    if missing:
        raise DatasetError(f"{where}: no array {missing[0]!r}")
    rows, episodes = arrays["rewards"].shape[0], arrays["episode_returns"].shape[0]
    shapes = expected_shapes(spec_rec, rows, episodes)
    for name, dtype in expected_dtypes(spec_rec).items():
        if arrays[name].shape != shapes[name]:
            raise DatasetError(
                f"{where}: {name} has shape {arrays[name].shape}, expected {shapes[name]} for "
                f"{spec_rec['env_id']}"
            )
        if arrays[name].dtype != dtype:
            raise DatasetError(f"{where}: {name} has dtype {arrays[name].dtype}, expected {dtype}")
    if rows == 0:
        raise DatasetError(f"{where}: holds no transitions")
    if not arrays["stream_ends"][-1]:
        raise DatasetError(f"{where}: the last row does not end a stream (a truncated file?)")
    action = spec_rec["action"]
    if action["kind"] == "discrete":
        actions = arrays["actions"]
        if actions.min() < 0 or actions.max() >= action["n"]:
            raise DatasetError(
                f"{where}: actions outside [0, {action['n']}) (min {actions.min()}, max "
                f"{actions.max()})"
            )


def check_env(dataset: Dataset, spec: envs.EnvSpec, where: str | Path = "dataset") -> None:
    """Raises `DatasetError` (one line) unless the dataset was recorded on `spec`'s env: the same
    id, options, spaces and episode limit."""
    recorded, wanted = dataset.metadata["env"], spec_record(spec)
    if recorded["env_id"] != wanted["env_id"]:
        raise DatasetError(
            f"{where}: recorded on {recorded['env_id']}, not on {wanted['env_id']} (use --env-id "
            f"{recorded['env_id']})"
        )
    for name in ("options", "observation_shape", "action", "episode_limit"):
        if recorded[name] != wanted[name]:
            raise DatasetError(
                f"{where}: its env's {name} is {recorded[name]!r}, {wanted['env_id']}'s here is "
                f"{wanted[name]!r}"
            )


def save(path: str | Path, dataset: Dataset) -> Path:
    """Writes `dataset` to the folder `path` atomically (a temporary sibling folder, renamed); an
    existing folder there is replaced only if it is a dataset. Returns the path."""
    check(dataset, path)
    path = Path(path).expanduser()
    if path.exists() and not (path / METADATA_FILE).is_file():
        raise DatasetError(f"{path}: exists and is not a dataset folder; refusing to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        arrays = {name: np.asarray(a) for name, a in dataset.arrays.items()}
        np.savez(tmp / DATA_FILE, **arrays)
        metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, **dataset.metadata}
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        os.chmod(tmp, 0o755)
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / "dataset")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load(path: str | Path, spec: envs.EnvSpec | None = None) -> Dataset:
    """Reads and checks the dataset folder `path`; with `spec`, also that it was recorded on that
    env (`check_env`).

    Raises:
        DatasetError: no such folder, unreadable files, another format or version, arrays whose
            shapes or dtypes disagree with its metadata, or another env than `spec`'s; one line.
    """
    path = Path(path).expanduser()
    try:
        metadata = json.loads((path / METADATA_FILE).read_text())
    except FileNotFoundError:
        raise DatasetError(
            f"dataset={str(path)!r}: no {METADATA_FILE} there; make one with "
            "`purejaxrl collect RUN_DIR --out PATH` (or --mode random)"
        ) from None
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path / METADATA_FILE}: cannot be read ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise DatasetError(
            f"{path}: not a {FORMAT} folder (metadata.json has no format {FORMAT!r})"
        )
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format version {version!r}, this purejaxrl reads version {FORMAT_VERSION}"
        )
    try:
        with np.load(path / DATA_FILE, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetError(f"{path / DATA_FILE}: cannot be read ({message})") from None
    dataset = Dataset(arrays, metadata)
    check(dataset, path)
    if spec is not None:
        check_env(dataset, spec, path)
    return dataset


def digest(path: str | Path) -> str:
    """The SHA-256 of the dataset's data.npz, hex: what a run's checkpoints record of its data, so
    that `--resume` refuses a dataset folder whose data changed since the run started."""
    file = Path(path).expanduser() / DATA_FILE
    try:
        stat = file.stat()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read {DATA_FILE}: {error.strerror}") from None
    return _digest(str(file), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _digest(file: str, mtime_ns: int, size: int) -> str:
    sha = hashlib.sha256()
    with open(file, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def complete_episodes(dataset: Dataset) -> list[tuple[int, int]]:
    """(first row, last row) of every complete episode, in row order: the runs of rows that
    start a stream or follow a flagged row (terminal, timeout or stream end) and end in a
    terminal or a timeout. A run cut by a stream end alone is not complete."""
    terminals, timeouts = dataset.arrays["terminals"], dataset.arrays["timeouts"]
    ended = terminals | timeouts
    flagged = np.flatnonzero(ended | dataset.arrays["stream_ends"])
    starts = np.concatenate([[0], flagged[:-1] + 1])
    return [(int(a), int(b)) for a, b in zip(starts, flagged, strict=True) if ended[b]]


def first_episodes(dataset: Dataset, count: int, where: str | Path = "dataset") -> Dataset:
    """A dataset of the first `count` complete episodes of `dataset` (`complete_episodes`, in
    row order: stream 0's first), each a stream of its own; episode_returns and episode_lengths
    are theirs, in the same order.

    Raises:
        DatasetError: the dataset holds fewer than `count` complete episodes; one line.
    """
    bounds = complete_episodes(dataset)
    if len(bounds) < count:
        raise DatasetError(
            f"{where}: holds {len(bounds)} complete episodes, fewer than the {count} asked for"
        )
    bounds = bounds[:count]
    rows = np.concatenate([np.arange(a, b + 1) for a, b in bounds])
    arrays = {name: dataset.arrays[name][rows] for name in STEP_FIELDS}
    lengths = np.array([b - a + 1 for a, b in bounds], np.int32)
    arrays["stream_ends"] = np.zeros(rows.size, bool)
    arrays["stream_ends"][np.cumsum(lengths) - 1] = True
    sums = [dataset.arrays["rewards"][a : b + 1].sum(dtype=np.float64) for a, b in bounds]
    arrays["episode_returns"] = np.array(sums, np.float32)
    arrays["episode_lengths"] = lengths
    source = {**(dataset.metadata.get("source") or {}), "first_episodes": count}
    return Dataset(arrays, {**dataset.metadata, "source": source})


def concatenate(parts: list[Dataset], split: str = "custom") -> Dataset:
    """One dataset of `parts`' streams, one part after another (D4RL's medium-expert: medium then
    expert); the parts must share an env record. The metadata lists each part's metadata."""
    first = parts[0].metadata["env"]
    for part in parts[1:]:
        if part.metadata["env"] != first:
            raise DatasetError(
                f"cannot concatenate datasets of different envs: {first['env_id']} and "
                f"{part.metadata['env']['env_id']}"
            )
    arrays = {
        name: np.concatenate([part.arrays[name] for part in parts])
        for name in (*STEP_FIELDS, *EPISODE_FIELDS)
    }
    parts_meta = [{k: v for k, v in p.metadata.items() if k != "env"} for p in parts]
    return Dataset(arrays, {"split": split, "env": first, "source": {"parts": parts_meta}})
