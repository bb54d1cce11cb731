"""Reading run folders back: the folder a CLI run made, its newest checkpoint's arrays, and a
bitwise comparison of two runs' outputs (test_long_runs.py, test_distributed.py); and stopping an
in-process run after its first chunk, as SIGINT would (the resume tests)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np


def the_run_dir(cwd: Path) -> Path | None:
    found = [p for p in (cwd / "runs").glob("*/*/*") if p.is_dir()]
    return found[0] if found else None


def final_state(run_dir: Path) -> dict:
    """Every array of the newest checkpoint, by path."""
    import jax
    import orbax.checkpoint as ocp

    step = max(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    path = (run_dir / "checkpoints" / str(step) / "arrays").absolute()
    with ocp.StandardCheckpointer() as checkpointer:  # as host arrays, whoever saved them
        target = jax.tree.map(
            lambda m: np.zeros(m.shape, m.dtype),
            checkpointer.metadata(path).item_metadata.tree,
            is_leaf=lambda m: hasattr(m, "shape"),
        )
        tree = checkpointer.restore(path, target)
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in flat}


def assert_same_outputs(a: Path, b: Path) -> None:
    ma, mb = np.load(a / "metrics.npz"), np.load(b / "metrics.npz")
    assert sorted(ma.files) == sorted(mb.files)
    for name in ma.files:
        np.testing.assert_array_equal(ma[name], mb[name], err_msg=name)
    sa, sb = final_state(a), final_state(b)
    assert sa.keys() == sb.keys()
    for path in sa:
        np.testing.assert_array_equal(sa[path], sb[path], err_msg=path)


def stop_after_the_first_chunk(ctx, chunk) -> None:
    """A chunk step that asks for a stop as SIGINT would, once: after the run's first chunk."""
    chunk.stop_asked = chunk.stop_asked or chunk.first == 0


@contextlib.contextmanager
def stopping_after_the_first_chunk(monkeypatch):
    """Within it, `runner.run` stops after its first chunk (with a checkpoint, status
    "interrupted"), through the runner's own chunk steps."""
    from purejaxrl import runner

    steps = list(runner.CHUNK_STEPS)
    steps.insert(steps.index(runner.decide_stop), stop_after_the_first_chunk)
    with monkeypatch.context() as patch:
        patch.setattr(runner, "CHUNK_STEPS", tuple(steps))
        yield
