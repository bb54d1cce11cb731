"""Every notebook in notebooks/ runs top to bottom on a tiny step budget and draws its plots."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
STEPS = 4096  # PUREJAXRL_NOTEBOOK_STEPS: enough for a few PPO updates, seconds on a CPU


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if path.name == "atari.ipynb" and importlib.util.find_spec("envpool") is None:
        pytest.skip("the Atari notebook needs the atari extra: pip install 'purejaxrl[atari]'")
    monkeypatch.setenv("PUREJAXRL_NOTEBOOK_STEPS", str(STEPS))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel picks its inline backend itself
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name}: save the notebook without outputs"
            )

    # Raises CellExecutionError (with the cell's traceback) on the first failing cell.
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    ).execute()

    outputs = list(_outputs(nb))
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
    tracebacks = [t for t in map(_text, outputs) if "Traceback" in t]
    assert not tracebacks, f"{path.name} printed a traceback:\n{tracebacks[0]}"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no plot"
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")
