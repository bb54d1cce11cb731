"""What the wheel installs: the `purejaxrl` package with the environments inside it as
`purejaxrl.envs` (the repository keeps them in `envs/` at its top level; `purejaxrl/envs` links
there), no top-level `envs` package to clash with other projects, and the licence."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.process
def test_the_wheel_installs_envs_inside_purejaxrl_and_claims_no_top_level_envs(tmp_path):
    """Built as `pip install .` builds it: in an isolated environment with the setuptools that
    pyproject asks for (fetched from the package index)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("purejaxrl", "envs"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
    assert (source / "purejaxrl" / "envs").is_symlink()
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    [wheel] = (tmp_path / "dist").glob("purejaxrl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith("-info")}
    assert top_level == {"purejaxrl"}, top_level
    for module in ("__init__", "registry", "wrappers", "gridworld", "probes", "atari", "render"):
        assert f"purejaxrl/envs/{module}.py" in names
    assert any(name.endswith("licenses/LICENSE") for name in names)
