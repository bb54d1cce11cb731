"""Every notebook in notebooks/ is stored executed, with its plots, and runs top to bottom on a tiny
step budget."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
STEPS = 4096  # PUREJAXRL_NOTEBOOK_STEPS: enough for a few PPO updates, seconds on a CPU
MAX_BYTES = 3_000_000  # stored notebooks carry their plots; keep them small (modest dpi)


def _outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from cell.get("outputs", [])


def _text(output) -> str:
    """Everything an output shows as text: streams, rich text and error tracebacks."""
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join([output.ename, output.evalue, *output.traceback])
    return str(output.get("data", {}).get("text/plain", ""))


def test_notebooks_exist():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


def _check_ran_and_drew(nb, name: str, when: str) -> None:
    """Every code cell executed, no error output or printed traceback, at least one image."""
    outputs = list(_outputs(nb))
    unexecuted = [c for c in nb.cells if c.cell_type == "code" and c.execution_count is None]
    assert not unexecuted, f"{name} ({when}): a code cell has not been executed"
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, f"{name} ({when}): {errors[0].ename}: {errors[0].evalue}"
    tracebacks = [t for t in map(_text, outputs) if "Traceback" in t]
    assert not tracebacks, f"{name} ({when}) printed a traceback:\n{tracebacks[0]}"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{name} ({when}) drew no plot"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Stored with the outputs of a run at the notebook's own budget, so that a reader sees the
    # plots on GitHub without running anything (`make notebooks` refreshes them).
    nb = nbformat.read(path, as_version=4)
    _check_ran_and_drew(nb, path.name, "as stored: execute it at its normal budget and save it")
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size:,} bytes: lower the figures' dpi or size"

    if path.name == "atari.ipynb" and importlib.util.find_spec("envpool") is None:
        pytest.skip("the Atari notebook needs the atari extra: pip install 'purejaxrl[atari]'")
    monkeypatch.setenv("PUREJAXRL_NOTEBOOK_STEPS", str(STEPS))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel picks its inline backend itself
    for cell in nb.cells:  # start from a clean notebook, in memory only
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None

    # Raises CellExecutionError (with the cell's traceback) on the first failing cell.
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    ).execute()
    _check_ran_and_drew(nb, path.name, f"at {STEPS} steps")
