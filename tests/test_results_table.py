"""benchmarks/results.py, README's Results table: rendering rows from records, rewriting the
table between its markers, and refusing what it must refuse. Nothing is trained here."""

import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def results(monkeypatch):
    """benchmarks/results.py as a module (it imports benchmarks/common.py as `common`)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("results_table", BENCHMARKS / "results.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


SEEDS = {
    "final_return_mean": 456.79,
    "final_return_ci95": [370.37, 500.0],
    "final_return_iqm": 500.0,
    "final_return_per_seed": [500.0, 500.0, 154.32, 500.0],
}


def fixture_rows(results):
    return (
        results.Row(
            "one", "python -m purejaxrl a2c --num-seeds 4", ("run_one",), "1 min",
            "A2C", "CartPole-v1", "5e5", "4",
            "{run_one[results][0]:ci} (IQM {run_one[results][0]:iqm}; {run_one[results][0]:every}"
            " at 500; worst {run_one[results][0]:worst})",
            ">= 450",
        ),
        results.Row(
            "two", "python benchmarks/x.py", ("x",), "2 min",
            "X", "{x[env]}", "1e5", "8", lambda r: f"{len(r['x']['runs'])} runs", "",
        ),
    )  # fmt: skip


RECORDS = {"run_one": {"results": [SEEDS]}, "x": {"env": "Pendulum-v1", "runs": [1, 2, 3]}}


def test_rows_render_from_their_records(results):
    table = results.render_table(fixture_rows(results), RECORDS).splitlines()
    assert table[:2] == results.HEADER.splitlines()
    assert table[2] == (
        "| A2C | CartPole-v1 | 5e5 | 4 | 456.8 [370.4, 500.0] (IQM 500.0; 3 of 4 seeds at 500; "
        "worst 154.3) | >= 450 |"
    )
    assert table[3] == "| X | Pendulum-v1 | 1e5 | 8 | 3 runs |  |"
    every = {**SEEDS, "final_return_per_seed": [500.0] * 4}
    assert results.cell("{s:every}, {s:ci2}", {"s": every}) == "every seed, 456.79 [370.37, 500.00]"


def test_every_row_renders_from_the_recorded_json(results):
    """The committed records hold what each row's cells ask for, and no cell breaks the table."""
    table = results.render_table(results.ROWS, results.load_records(results.ROWS)).splitlines()
    assert len(table) == 2 + len(results.ROWS)
    assert all(line.count(" | ") == 5 for line in table[2:])
    assert len({row.id for row in results.ROWS}) == len(results.ROWS)


def test_every_row_command_runs_as_written(results):
    """`--rows` runs a row's command as it stands: no placeholder left to fill in by hand, and the
    script or test file it names exists (a runner row names a registered algorithm)."""
    from purejaxrl import registry

    for row in results.ROWS:
        words = shlex.split(row.command)
        assert not [w for w in words if "<" in w or ">" in w], row.id
        if row.kind == "runner":
            assert words[3] in registry.ALGORITHMS, row.id
            continue
        files = [w for w in words if w.startswith(("benchmarks/", "tests/"))]
        assert files and all((results.ROOT / w.split("::")[0]).exists() for w in files), row.id


def test_render_rewrites_only_the_table_between_the_markers(results, tmp_path, monkeypatch):
    monkeypatch.setattr(results, "ROWS", fixture_rows(results))
    for name, record in RECORDS.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    readme = tmp_path / "README.md"
    before, after = "# title\n\ntext above\n\n", "\n\ntext below\n"
    old = "| A2C | CartPole-v1 | 5e5 | 4 | 500.0 [500.0, 500.0] | >= 450 |"
    readme.write_text(f"{before}{results.BEGIN}\n{results.HEADER}\n{old}\n{results.END}{after}")
    args = ["--render", "--readme", str(readme), "--results", str(tmp_path)]
    assert results.main(args) == 0
    text = readme.read_text()
    assert text.startswith(before + results.BEGIN) and text.endswith(results.END + after)
    assert "456.8 [370.4, 500.0]" in text and old not in text
    assert results.main(args) == 0 and readme.read_text() == text  # idempotent

    # A row added to the README by hand is not dropped: the render refuses, the file unchanged.
    hand = "| PPO | Acrobot-v1 | 5e5 | 8 | -80.0 | |"
    readme.write_text(text.replace(results.END, hand + "\n" + results.END))
    assert results.main(args) == 1
    assert hand in readme.read_text()


def test_an_unknown_row_is_refused_in_one_line_with_exit_2(results, capsys):
    assert results.main(["--rows", "a2c", "no-such-row"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'no-such-row'" in err and "a2c" in err


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_row_says_whether_its_code_moved_on_since_its_record(
    results, tmp_path, monkeypatch, capsys
):
    def git(*words):
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path), *words],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    monkeypatch.setattr(results, "ROOT", tmp_path)
    (tmp_path / "purejaxrl").mkdir()
    (tmp_path / "purejaxrl" / "ppo.py").write_text("lr = 1e-3\n")
    (tmp_path / "README.md").write_text("docs\n")
    store = tmp_path / "benchmarks" / "results"
    store.mkdir(parents=True)
    (store / "old.json").write_text("{}")  # from before records named their commit
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    first = git("rev-parse", "HEAD")
    (store / "new.json").write_text(json.dumps({"code": {"commit": first, "uncommitted": []}}))
    rows = [
        results.Row(name, "python -m purejaxrl ppo", (name,), "1 min", "", "", "", "", "")
        for name in ("new", "old", "missing")
    ]
    assert [results.row_status(row, store)[0] for row in rows] == [False, False, True]
    assert (
        f"made at {first[:7]} (recorded); code unchanged" in results.row_status(rows[0], store)[1]
    )
    assert "(the commit that last wrote it)" in results.row_status(rows[1], store)[1]

    (tmp_path / "README.md").write_text("more docs\n")  # not code: the records stay current
    assert not results.row_status(rows[0], store)[0]
    (tmp_path / "purejaxrl" / "ppo.py").write_text("lr = 3e-4\n")  # code, even uncommitted
    stale, line = results.row_status(rows[0], store)
    assert stale and line.endswith("code changed since: purejaxrl/ppo.py")
    monkeypatch.setattr(results, "ROWS", tuple(rows))
    capsys.readouterr()
    assert results.main(["--stale", "--results", str(store)]) == 0
    assert capsys.readouterr().out == "new old missing\n"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_row_is_stale_only_when_a_file_its_run_imported_changes(results, tmp_path, monkeypatch):
    """A row's run logs the repository modules each of its processes loads (a child process
    too, by import statement or importlib, through a linked folder as the file git knows); its
    record keeps them, and a change to any other file leaves the row current."""

    def git(*words):
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(root), *words],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    root = tmp_path / "repo"
    for name in ("__init__", "used", "by_child", "unused"):
        (root / "purejaxrl").mkdir(parents=True, exist_ok=True)
        (root / "purejaxrl" / f"{name}.py").write_text("x = 1\n")
    (root / "envs").mkdir()
    (root / "envs" / "__init__.py").write_text("")
    (root / "envs" / "real.py").write_text("z = 3\n")
    (root / "purejaxrl" / "envs").symlink_to("../envs")  # as in the repository
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "common.py").write_text("y = 2\n")
    (root / "benchmarks" / "bench.py").write_text("")
    monkeypatch.setattr(results, "ROOT", root)
    child = "import importlib; importlib.import_module('purejaxrl.by_child')"
    program = (
        "import sys, subprocess; sys.path.insert(0, 'benchmarks'); import common, json, "
        "purejaxrl.used, purejaxrl.envs.real; "
        f"subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = results.logging_imports(run_dir)
    subprocess.run([sys.executable, "-c", program], cwd=root, env=env, check=True)
    imported = results.imported_files(run_dir / "imports", root)
    assert imported == [
        "benchmarks/common.py",
        "envs/__init__.py",
        "envs/real.py",
        "purejaxrl/__init__.py",
        "purejaxrl/by_child.py",
        "purejaxrl/used.py",
    ]

    store = root / "benchmarks" / "results"
    store.mkdir()
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    record = {"code": {"commit": git("rev-parse", "HEAD"), "uncommitted": []}}
    (store / "rec.json").write_text(json.dumps(record))
    row = results.Row("r", "python benchmarks/bench.py", ("rec",), "1 s", "", "", "", "", "")
    results.keep_code_files(row, run_dir / "imports", store)
    assert json.loads((store / "rec.json").read_text())["code_files"] == imported

    (root / "purejaxrl" / "unused.py").write_text("x = 3\n")  # not imported: still current
    assert not results.row_status(row, store)[0]
    for changed in ("purejaxrl/by_child.py", "envs/real.py", "benchmarks/bench.py"):
        git("checkout", "-q", "--", ".")
        (root / changed).write_text("x = 4\n")
        stale, line = results.row_status(row, store)
        assert stale and line.endswith(f"code changed since: {changed}")
