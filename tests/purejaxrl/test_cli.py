"""The command line: a tiny run writes every output; each bad input exits 2 with one clear line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.process  # every test here starts real processes

TINY = [
    "--total-timesteps",
    "2048",
    "--num-steps",
    "64",
    "--no-progress",
    "--compilation-cache",
    "",
]


def cli(module, *args, cwd, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    proc = cli("purejaxrl.ppo", *TINY, "--num-seeds", "2", "--lr", "1e-3", "3e-3", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (cwd / "runs" / "CartPole-v1" / "ppo").iterdir()
    return run_dir, proc


def test_a_tiny_run_writes_every_output(tiny_run):
    run_dir, proc = tiny_run
    names = {p.name for p in run_dir.iterdir()}
    assert names == {
        ".lock",  # the advisory lock a run holds on its folder
        "config.json",
        "metrics.npz",
        "summary.json",
        "curve.png",
        "checkpoints",
        "tensorboard",
    }
    config = json.loads((run_dir / "config.json").read_text())
    assert config["algo"] == "ppo" and config["grid"] == {"lr": [1e-3, 3e-3]}
    metrics = np.load(run_dir / "metrics.npz")
    assert metrics["episode_return"].shape == (2, 2, 8)  # (grid, seed, update)
    assert metrics["env_steps"][-1] == 2048
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("compile_time_s", "run_time_s", "steps_per_second", "versions", "device"):
        assert key in summary
    (row,) = [r for r in summary["results"] if r["grid_point"] == "lr=0.003"]
    assert len(row["final_return_per_seed"]) == 2
    assert (run_dir / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lr=0.003" in proc.stdout and "outputs:" in proc.stdout


def test_evaluate_loads_the_checkpoint_and_plays_greedy_episodes(tiny_run):
    run_dir, _ = tiny_run
    proc = cli("purejaxrl.evaluate", str(run_dir), "--episodes", "3", cwd=run_dir)
    assert proc.returncode == 0, proc.stderr
    assert "lr=0.001" in proc.stdout and "lr=0.003" in proc.stdout


def test_tensorboard_holds_the_grid_point_means_of_the_run(tiny_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = tiny_run
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    metrics = np.load(run_dir / "metrics.npz")
    for g, label in enumerate(["lr=0.001", "lr=0.003"]):
        scalars = events.Scalars(f"loss/{label}/mean")
        expected = metrics["loss"][g].mean(axis=0)
        assert [e.step for e in scalars] == metrics["env_steps"].tolist()
        np.testing.assert_allclose([e.value for e in scalars], expected, rtol=1e-5)
    assert "episode_return/lr=0.003/seed_1" in events.Tags()["scalars"]


def test_progress_in_a_log_is_plain_lines_with_the_compile_time(tmp_path):
    args = [a for a in TINY if a != "--no-progress"]
    proc = cli("purejaxrl.ppo", *args, "--no-tensorboard", cwd=tmp_path)  # stderr is a pipe
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "compiling 1 run, chunks of" in lines[0] and "compiled in" in lines[1]
    assert "\r" not in proc.stderr
    assert lines[-1].startswith("ppo CartPole-v1: 100.0% 2,048/2,048 steps")
    assert 3 <= len(lines) <= 2 + 11  # about every 10%


def test_evaluate_rejects_a_folder_that_is_not_a_run(tmp_path):
    proc = cli("purejaxrl.evaluate", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "no config.json" in proc.stderr


BAD_INPUTS = [
    (["--env-id", "Cartpole-v1"], "env_id: unknown env id 'Cartpole-v1'; closest: CartPole-v1"),
    (["--lr", "-0.001"], "lr=-0.001: must be a finite number in (0.0, inf]"),
    (["--lr", "nan"], "lr=nan: must be a finite number"),
    (["--gamma", "0.99", "1.5"], "gamma=1.5: must be a finite number in [0.0, 1.0]"),
    (["--num-minibatches", "3"], "num_minibatches=3: must divide num_envs * num_steps = 256"),
    (["--num-seeds", "0"], "num_seeds=0: must be >= 1"),
    (["--total-timesteps", "100"], "total_timesteps=100: must be >= num_envs * num_steps"),
    (["--num-envs", "abc"], "error: --num-envs: invalid literal for int() with base 10: 'abc'"),
    (["--process-timeout", "0"], "error: --process-timeout=0: must be >= 1"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS, ids=[a[0] for a, _ in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_naming_the_value(tmp_path, args, message):
    proc = cli("purejaxrl.ppo", *TINY, *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (Path(tmp_path) / "runs").exists()  # nothing written before validation passed


def test_runs_are_sharded_over_cpu_devices_and_agree_with_one_device(tmp_path):
    args = [*TINY, "--num-seeds", "2"]
    one = cli("purejaxrl.ppo", *args, "--runs-dir", "one", cwd=tmp_path,
              env={"PUREJAXRL_CPU_DEVICES": "1"})  # fmt: skip
    two = cli("purejaxrl.ppo", *args, "--runs-dir", "two", cwd=tmp_path,
              env={"PUREJAXRL_CPU_DEVICES": "2"})  # fmt: skip
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert "on 1 x cpu" in one.stdout and "on 2 x cpu" in two.stdout
    metrics = [
        np.load(next((tmp_path / d).glob("CartPole-v1/ppo/*")) / "metrics.npz")
        for d in ("one", "two")
    ]
    np.testing.assert_allclose(metrics[0]["loss"], metrics[1]["loss"], rtol=1e-4)


def test_a_bad_cpu_device_count_exits_2_with_one_line(tmp_path):
    proc = cli("purejaxrl.ppo", *TINY, cwd=tmp_path, env={"PUREJAXRL_CPU_DEVICES": "two"})
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: PUREJAXRL_CPU_DEVICES='two': must be a whole number (1 turns the split off)"
    )


def test_help_lists_the_config_resume_and_process_flags():
    proc = cli("purejaxrl.ppo", "--help", cwd=Path.cwd(), env={"COLUMNS": "200"})
    assert proc.returncode == 0
    for flag in ("--env-id", "--lr", "--resume", "--num-processes", "--process-id",
                 "--coordinator-address", "--process-timeout"):  # fmt: skip
        assert flag in proc.stdout
