"""The algorithm registry: every row resolves, and the command line reaches every algorithm."""

import ast
import dataclasses
import importlib
import inspect
import os
import subprocess
import sys
import typing

import pytest

from purejaxrl import registry
from purejaxrl.config import BaseConfig


@pytest.mark.parametrize("name", list(registry.ALGORITHMS))
def test_every_row_names_a_config_a_learner_a_train_and_a_policy(name):
    row = registry.get(name)
    assert row.name == name and row.family in typing.get_args(registry.Family)
    assert issubclass(row.config_cls, BaseConfig) and dataclasses.is_dataclass(row.config_cls)
    for make in (row.make_learner, row.make_train, row.make_policy):
        assert callable(make) and list(inspect.signature(make).parameters)[:2] == ["config", "spec"]


@pytest.mark.parametrize("name", list(registry.ALGORITHMS))
def test_an_algorithm_file_runs_through_the_registry_and_imports_no_cli_at_module_level(name):
    tree = ast.parse(inspect.getsource(importlib.import_module(registry.get(name).module)))
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    assert not imported & {"purejaxrl.cli", "purejaxrl.runner"}
    guard = tree.body[-1]
    assert isinstance(guard, ast.If) and ast.unparse(guard.test) == "__name__ == '__main__'"
    assert ast.unparse(guard.body[-1]) == f"main('{name}')", "the file runs its own row"


def test_an_unknown_name_is_refused_naming_the_known_ones():
    with pytest.raises(registry.UnknownAlgorithmError, match="'ppo2'; known: ppo, a2c"):
        registry.get("ppo2")


def run_package(*args):
    return subprocess.run(
        [sys.executable, "-m", "purejaxrl", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )  # fmt: skip


@pytest.mark.process
def test_the_package_command_lists_every_algorithm_and_refuses_an_unknown_one():
    listing = run_package("--help")
    assert listing.returncode == 0
    for name, row in registry.ALGORITHMS.items():
        assert f"  {name}" in listing.stdout and row.summary in listing.stdout
    unknown = run_package("ppo2", "--total-timesteps", "100")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        f"error: unknown algorithm 'ppo2'; known: {', '.join(registry.ALGORITHMS)}"
    ]
    assert run_package().returncode == 2  # no command: the listing, and a usage error


@pytest.mark.process
def test_the_package_command_runs_an_algorithm_and_its_report(tmp_path):
    proc = run_package(
        "q_learning", "--env-id", "Gridworld-Lizard-v0", "--total-timesteps", "2000",
        "--no-progress", "--runs-dir", str(tmp_path), "--no-tensorboard",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "max |Q - Q*| of the mean table" in proc.stdout
    (run_dir,) = (tmp_path / "Gridworld-Lizard-v0" / "q_learning").iterdir()
    assert (run_dir / "values.png").exists()
