"""Long runs survive: SIGKILL then --resume equals an uninterrupted run bit for bit; SIGINT and
SIGTERM stop after a chunk with a checkpoint and every output; a second SIGINT exits at once;
diverged runs are marked and never scored; evaluate checks the folder before loading.

Every run here is a real `python -m purejaxrl.<algo>` process on one CPU device (two xdist
workers already share the two cores; one test resumes on two devices on purpose); every wait is
bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from run_folders import assert_same_outputs, final_state, the_run_dir

from purejaxrl import registry

pytestmark = pytest.mark.process  # every test here starts real processes

ENV = {"PUREJAXRL_CPU_DEVICES": "1", "JAX_PLATFORMS": "cpu"}
COMMON = ["--compilation-cache", "", "--chunk-updates", "1", "--checkpoint-every", "1"]

# Small runs of many updates (one chunk each), so that a kill lands mid-run: one algorithm per
# loop family (the in-process stop-and-resume of every algorithm is in test_contract.py).
RUNS = {
    "ppo": [
        "--total-timesteps", "6144", "--num-steps", "32", "--num-envs", "4",
        "--num-seeds", "2", "--lr", "1e-3", "3e-3",
    ],
    "ddpg": [
        "--total-timesteps", "3000", "--buffer-size", "1000", "--batch-size", "32",
        "--learning-starts", "200", "--steps-per-update", "100", "--hidden-sizes", "16", "16",
    ],
    "q_learning": [
        "--total-timesteps", "20000", "--steps-per-update", "500", "--num-seeds", "3",
    ],
    "alphazero": [
        "--total-timesteps", str(8 * 9 * 40), "--num-envs", "8", "--num-simulations", "4",
        "--buffer-size", "256", "--batch-size", "16", "--gradient-steps", "2",
        "--hidden-sizes", "16", "--num-seeds", "2", "--eval-episodes", "0",
    ],
    "bc": [
        "--dataset", "random", "--random-dataset-steps", "512", "--total-timesteps", "250",
        "--steps-per-update", "50", "--batch-size", "32", "--eval-envs", "2",
        "--hidden-sizes", "16", "16", "--num-seeds", "2", "--lr", "1e-3", "3e-3",
    ],
}  # fmt: skip


def test_the_killed_runs_cover_every_loop_family():
    families = {registry.get(name).family for name in RUNS}
    assert families == {row.family for row in registry.ALGORITHMS.values()}


def start(algo: str, *args: str, cwd: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", f"purejaxrl.{algo}", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV, **(env or {})},
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def run_cli(algo: str, *args: str, cwd: Path, env: dict | None = None, timeout: float = 300):
    return finish(start(algo, *args, cwd=cwd, env=env), timeout)


def wait_for_checkpoint(cwd: Path, step: int, proc: subprocess.Popen, timeout: float = 240):
    """The run folder once `checkpoints/<step>` (a complete orbax save) exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_dir = the_run_dir(cwd)
        if run_dir is not None and (run_dir / "checkpoints" / str(step)).is_dir():
            return run_dir
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before checkpoint {step}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no checkpoint {step} within {timeout} s")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """algo -> the run folder of its uninterrupted run (made on first use)."""
    made = {}

    def get(algo: str) -> Path:
        if algo not in made:
            cwd = tmp_path_factory.mktemp(f"whole_{algo}")
            rc, _, err = run_cli(algo, *RUNS[algo], *COMMON, "--no-progress", cwd=cwd)
            assert rc == 0, err
            made[algo] = the_run_dir(cwd)
        return made[algo]

    return get


@pytest.mark.parametrize("algo", list(RUNS))
def test_a_killed_run_resumes_to_the_uninterrupted_result_bit_for_bit(
    algo, tmp_path, uninterrupted
):
    proc = start(algo, *RUNS[algo], *COMMON, "--no-progress", cwd=tmp_path)
    run_dir = wait_for_checkpoint(tmp_path, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "running"  # a killed run's folder says it did not finish
    assert summary["updates_done"] < summary["num_updates"]

    rc, out, err = run_cli(algo, "--resume", str(run_dir), cwd=tmp_path)
    assert rc == 0, err
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "complete"
    assert_same_outputs(uninterrupted(algo), run_dir)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_stops_after_a_chunk_with_every_output_and_resume_finishes(
    sig, tmp_path, uninterrupted
):
    proc = start("ppo", *RUNS["ppo"], *COMMON, "--no-progress", cwd=tmp_path)
    run_dir = wait_for_checkpoint(tmp_path, 1, proc)
    proc.send_signal(sig)
    rc, out, err = finish(proc, timeout=120)
    assert rc == 130, err
    assert "Traceback" not in err
    assert f"resume with: python -m purejaxrl.ppo --resume {run_dir.relative_to(tmp_path)}" in err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    done = summary["updates_done"]
    assert 1 <= done < summary["num_updates"]
    assert np.load(run_dir / "metrics.npz")["episode_return"].shape == (2, 2, done)
    assert (run_dir / "checkpoints" / str(done)).is_dir()
    assert (run_dir / "curve.png").is_file()

    rc, out, err = run_cli("ppo", "--resume", str(run_dir), cwd=tmp_path)
    assert rc == 0, err
    assert_same_outputs(uninterrupted("ppo"), run_dir)


def test_a_second_sigint_exits_at_once_and_keeps_the_last_checkpoint(tmp_path):
    # chunks of 40 updates, each many seconds: the second SIGINT must not wait for one to end
    args = ["--total-timesteps", "400000", "--num-steps", "32", "--num-envs", "4"]
    proc = start(
        "ppo", *args, "--compilation-cache", "", "--chunk-updates", "40",
        "--checkpoint-every", "40", cwd=tmp_path,
    )  # fmt: skip
    run_dir = wait_for_checkpoint(tmp_path, 40, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rc, out, err = finish(proc, timeout=60)
    assert rc == 130
    assert time.monotonic() - sent < 5
    assert "Traceback" not in err and "exiting now" in err
    from purejaxrl import checkpoints

    step = checkpoints.latest_step(run_dir)
    assert step is not None and step >= 40
    assert len(final_state(run_dir)) > 0  # the last checkpoint still loads


def test_diverged_runs_are_marked_left_out_and_the_cli_exits_2(tmp_path):
    args = ["--env-id", "Pendulum-v1", "--lr", "3e-4", "1e6", "--num-seeds", "2"]
    rc, out, err = run_cli(
        "ppo", *args, "--total-timesteps", "8192", "--compilation-cache", "", cwd=tmp_path
    )
    assert rc == 2
    assert "run(s) diverged" in err and "lr=1e+06" in err and "lr=0.0003" not in err
    assert "2 of 2 seeds diverged" in out
    run_dir = the_run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert {d["grid_point"] for d in summary["diverged"]} == {"lr=1e+06"}
    good, bad = summary["results"]
    assert good["final_return_mean"] is not None and good["diverged_seeds"] == 0
    assert bad["diverged_seeds"] == 2  # scored at the worst return recorded, not dropped
    assert bad["final_return_mean"] == bad["diverged_scored_at"] <= good["final_return_mean"]
    metrics = np.load(run_dir / "metrics.npz")
    for d in summary["diverged"]:
        curve = metrics["loss"][1, d["seed"]]
        assert np.isnan(curve[d["update"] :]).all()  # the curve ends where it diverged

    rc, err = evaluate(run_dir, tmp_path)
    assert rc == 2 and "diverged" in err and "Traceback" not in err


def evaluate(run_dir, cwd):
    proc = subprocess.run(
        [sys.executable, "-m", "purejaxrl.evaluate", str(run_dir), "--episodes", "2"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **ENV},
    )
    return proc.returncode, proc.stderr


def test_evaluate_checks_the_folder_first(tmp_path, uninterrupted):
    source = uninterrupted("ppo")

    def broken(name: str) -> Path:
        copy = tmp_path / name
        shutil.copytree(source, copy)
        return copy

    cases = {}
    cases["missing folder"] = (tmp_path / "nowhere", "no such run folder")
    no_config = broken("no_config")
    (no_config / "config.json").unlink()
    cases["no config.json"] = (no_config, "no config.json")
    bad_json = broken("bad_json")
    (bad_json / "config.json").write_text("{not json")
    cases["broken config.json"] = (bad_json, "not readable JSON")
    unknown = broken("unknown")
    record = json.loads((unknown / "config.json").read_text())
    (unknown / "config.json").write_text(json.dumps({**record, "algo": "nope"}))
    cases["unknown algorithm"] = (unknown, "unknown algorithm 'nope'")
    other = broken("other_algo")
    (other / "config.json").write_text(json.dumps({**record, "algo": "a2c"}))
    cases["another algorithm's checkpoint"] = (other, "algo='ppo'")
    count = broken("run_count")
    (count / "config.json").write_text(json.dumps({**record, "num_seeds": 3}))
    cases["another run count"] = (count, "num_runs=4")
    truncated = broken("truncated")
    for path in (truncated / "checkpoints").rglob("*"):
        if path.is_file() and path.parent.name == "d":
            path.write_bytes(path.read_bytes()[:7])
    cases["truncated checkpoint"] = (truncated, "cannot be read")

    for case, (run_dir, expected) in cases.items():
        rc, err = evaluate(run_dir, tmp_path)
        lines = err.strip().splitlines()
        assert rc == 2, f"{case}: rc {rc}\n{err}"
        assert expected in lines[-1] and "Traceback" not in err, f"{case}: {err}"


def test_resuming_on_another_device_count_works_and_says_so(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    shutil.copytree(uninterrupted("q_learning"), run_dir)
    shutil.rmtree(run_dir / "checkpoints" / "40")  # back to the checkpoint before the last
    rc, out, err = run_cli(
        "q_learning", "--resume", str(run_dir), cwd=tmp_path, env={"PUREJAXRL_CPU_DEVICES": "2"}
    )
    assert rc == 0, err
    assert "not promised to be bitwise equal" in err
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "complete"


def test_bad_resume_and_runs_dir_inputs_exit_2_with_one_line(tmp_path):
    (tmp_path / "a_file").write_text("")
    cases = [
        (["--resume"], "give the run folder"),
        (["--resume", str(tmp_path / "none")], "no such run folder"),
        (["--resume", str(tmp_path), "--lr", "1e-3"], "(got also --lr 1e-3): the run goes on"),
        (
            ["--resume", str(tmp_path), "--total-timesteps", "9"],
            "a longer budget is not added to a run",
        ),
        (["--runs-dir", str(tmp_path / "a_file"), "--total-timesteps", "512"], "is a file"),
    ]
    for args, expected in cases:
        rc, out, err = run_cli("ppo", *args, cwd=tmp_path, timeout=120)
        assert rc == 2, err
        assert len(err.strip().splitlines()) == 1 and expected in err, err
