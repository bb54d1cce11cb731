"""Faults and bad input end in one line and a known state, never a traceback, a silent mix or an
overwritten record: typos and out-of-range options, damaged run records and checkpoints, a run
folder in use, a finished run resumed, live logging that cannot write, a full disk, signals
before training, and processes of one run started differently or without a coordinator.

The in-process tests call `purejaxrl.cli.main` or `purejaxrl.runner.run`; those that start
real processes (a signal, a mount, a second JAX process) carry the `process` marker.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from purejaxrl import checkpoints, cli, distributed, evaluate, live, outputs, registry, runner
from purejaxrl.grid import Grid
from purejaxrl.ppo import PPOConfig

TINY = ["--total-timesteps", "2048", "--num-steps", "64", "--no-progress"]
ENV = {"PUREJAXRL_CPU_DEVICES": "1", "JAX_PLATFORMS": "cpu"}


def refused(capsys, algo: str, *args: str) -> str:
    """The one line `algo`'s command line refuses `args` with (exit code 2)."""
    with pytest.raises(SystemExit) as stop:
        cli.main(algo, list(args))
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


BAD_INPUTS = [
    (["--lrr", "1e-3"], "Unrecognized options: --lrr, 1e-3 (perhaps you meant --lr)"),
    (["--num-seed", "2"], "(perhaps you meant --num-seeds)"),
    (["--num-envs", "four"], "--num-envs: invalid literal for int()"),
    (
        ["--total-timesteps", "1000000000000"],
        "total_timesteps=1000000000000: must be at most 2,147,483,647 in size",
    ),
    (["--total-timesteps", "1e20"], "total_timesteps=100000000000000000000: must be at most"),
    (["--total-timesteps", "1e-3"], "--total-timesteps=1e-3: must be a whole number"),
    (["--num-steps=2.5e0"], "--num-steps=2.5e0: must be a whole number"),
    (["--total-timesteps", "1.5e3.2"], "--total-timesteps: invalid literal for int()"),
    (["--seed", str(2**32)], "seed=4294967296: must be in [0, 4294967295]"),
    (["--num-steps", str(2**31)], "num_steps=2147483648: must be at most 2,147,483,647"),
    (
        ["--num-processes", "2", "--process-id", "2", "--coordinator-address", "localhost:9"],
        "--process-id=2: must be in [0, --num-processes=2)",
    ),
    (["--num-processes", "2"], "--process-id: a multi-process run needs"),
    (
        ["--num-processes", "2", "--process-id", "0", "--coordinator-address", "nohost"],
        "--coordinator-address='nohost': must be HOST:PORT",
    ),
    (["--resume"], "--resume: give the run folder to continue"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_nothing_is_written(args, message, capsys, tmp_path):
    err = refused(capsys, "ppo", *TINY, "--runs-dir", str(tmp_path / "runs"), *args)
    assert message in err
    assert not (tmp_path / "runs").exists()


def test_integer_options_take_budgets_written_like_1e6():
    config, grid = cli.parse_args(
        PPOConfig, ["--total-timesteps", "2e4", "--num-steps=1.28e2", "--lr", "1e-3", "3e-3"]
    )
    assert (config.total_timesteps, config.num_steps, grid) == (20_000, 128, {"lr": (1e-3, 3e-3)})


def write_record(folder: Path, change) -> Path:
    """A run folder whose config.json is a tiny PPO record passed through `change`."""
    folder.mkdir()
    config = PPOConfig(total_timesteps=2048, num_steps=64)
    grid = Grid.from_values(config, None)
    record = change(outputs.config_record("ppo", config, grid, 1))
    (folder / "config.json").write_text(json.dumps(record))
    return folder


def with_config(**fields):
    return lambda record: {**record, "config": {**record["config"], **fields}}


DAMAGED_RECORDS = {
    "a number": (lambda record: 5, "not a run record (a JSON object), got 5"),
    "a list": (lambda record: [record], "not a run record (a JSON object)"),
    "no grid labels": (
        lambda record: {k: v for k, v in record.items() if k != "grid_labels"},
        "missing grid_labels",
    ),
    "seeds a string": (lambda record: {**record, "num_seeds": "2"}, "num_seeds is '2'"),
    "grid not numbers": (lambda record: {**record, "grid": {"lr": ["a"]}}, "grid.lr is ['a']"),
    "a word for an int": (with_config(num_envs="four"), "config.num_envs is 'four', expected int"),
    "a bool for an int": (with_config(num_steps=True), "config.num_steps is True, expected int"),
    "an unknown choice": (with_config(loss="huber"), "config.loss is 'huber'"),
    "out of range": (with_config(num_envs=0), "config.json: num_envs=0: must be >= 1"),
}


@pytest.mark.parametrize("case", list(DAMAGED_RECORDS))
def test_a_damaged_config_json_is_named_with_its_field_by_evaluate_and_resume(
    case, capsys, tmp_path
):
    change, message = DAMAGED_RECORDS[case]
    run_dir = write_record(tmp_path / "run", change)
    with pytest.raises(outputs.RunFolderError) as error:
        evaluate.load_run(run_dir)
    assert message in str(error.value) and str(run_dir / "config.json") in str(error.value)
    assert message in refused(capsys, "ppo", "--resume", str(run_dir))


def test_a_run_folder_in_use_is_refused_naming_the_holder(tmp_path):
    lock = outputs.RunFolderLock(tmp_path).acquire()
    try:
        config = PPOConfig(total_timesteps=2048, num_steps=64, progress=False)
        with pytest.raises(outputs.RunFolderError, match=f"in use by process {os.getpid()}"):
            runner.run(config, registry.get("ppo").make_learner, "ppo", resume=tmp_path)
    finally:
        lock.release()
    outputs.RunFolderLock(tmp_path).acquire().release()  # free again once released


def tiny_config(tmp_path: Path, **overrides) -> PPOConfig:
    settings = {
        "total_timesteps": 4096, "num_steps": 64, "num_envs": 4, "chunk_updates": 4,
        "checkpoint_every": 4, "keep_checkpoints": 4, "progress": False,
        "compilation_cache": "", "runs_dir": str(tmp_path / "runs"),
    }  # fmt: skip
    return PPOConfig(**{**settings, **overrides})


def train(config, resume=None) -> runner.RunResult:
    return runner.run(config, registry.get("ppo").make_learner, "ppo", resume=resume)


def snapshot_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_resume_of_a_finished_run_changes_nothing_and_a_damaged_checkpoint_falls_back(tmp_path):
    whole = train(tiny_config(tmp_path))
    run_dir = whole.run_dir
    before = snapshot_of(run_dir)
    with pytest.raises(runner.RunComplete, match=r"complete \(16 of 16 updates\)"):
        train(whole.config, resume=run_dir)
    # the display flags are taken with --resume; the run is complete, so nothing happens
    neutral = ["--no-progress", "--tensorboard", "--compilation-cache", ""]
    assert cli.main("ppo", ["--resume", str(run_dir), *neutral]) is None
    assert snapshot_of(run_dir) == before

    # the last checkpoint damaged (truncated arrays), the summary still "running": resume takes
    # checkpoint 12, says so, and ends where the uninterrupted run ended
    for path in (run_dir / "checkpoints" / "16").rglob("*"):
        if path.is_file() and path.parent.name == "d":
            path.write_bytes(path.read_bytes()[:7])
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    with pytest.raises(checkpoints.CheckpointError, match="16: cannot be read"):
        checkpoints.restore(run_dir, *restore_args(whole), step=16)
    resumed = train(whole.config, resume=run_dir)
    assert any(
        "16: cannot be read" in n and "took checkpoint 12" in n for n in resumed.summary["notes"]
    )
    for name, values in whole.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], values, err_msg=name)
    checkpoints.restore(run_dir, *restore_args(whole), step=16)  # rewritten, intact


def restore_args(result: runner.RunResult):
    """`checkpoints.restore`'s abstract state, metric dtypes, run count and facts for a run."""
    import jax

    learner = registry.get("ppo").make_learner(result.config, result.config.env_spec())
    hp = Grid.from_values(result.config, None).hparams()
    keys = jax.random.split(jax.random.key(0), 1)
    state = jax.eval_shape(jax.vmap(learner.init), keys, hp)
    metrics = jax.eval_shape(jax.vmap(learner.update), state, hp)[1]
    about = {"algo": "ppo", "env_id": result.config.env_id, "num_runs": 1}
    return state, {k: v.dtype for k, v in metrics.items()}, 1, about


@pytest.mark.slow
def test_live_logging_that_cannot_write_warns_once_and_the_run_goes_on(
    tmp_path, capsys, monkeypatch
):
    def full_disk(self, env_steps, metrics):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.log_dir))

    monkeypatch.setattr(live.LiveLog, "write", full_disk)
    result = train(tiny_config(tmp_path))
    warned = [line for line in capsys.readouterr().err.splitlines() if "live metrics" in line]
    assert len(warned) == 1 and "No space left on device" in warned[0]
    assert result.status == "complete" and (result.run_dir / "summary.json").is_file()

    # the tensorboard folder taken by a file: warned when opening, the run goes on
    monkeypatch.undo()
    (tmp_path / "runs").rename(tmp_path / "first")
    real_open = runner.open_live_log

    def blocked(config, run_dir, *args):
        (run_dir / "tensorboard").write_text("not a folder")
        return real_open(config, run_dir, *args)

    monkeypatch.setattr(runner, "open_live_log", blocked)
    result = train(tiny_config(tmp_path))
    assert "live metrics" in capsys.readouterr().err
    assert result.status == "complete"


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_is_one_line_and_leaves_no_temporary_folder(
    tmp_path, monkeypatch
):
    real_save = checkpoints._manager

    def filling(run_dir, max_to_keep=None, create=False, timeout_s=1200.0):
        manager = real_save(run_dir, max_to_keep, create, timeout_s)
        real = manager.save

        def save(step, *args, **kwargs):
            if step < 12:
                return real(step, *args, **kwargs)
            (Path(run_dir) / "checkpoints" / f"{step}.orbax-checkpoint-tmp-1").mkdir()
            raise ValueError(
                'RESOURCE_EXHAUSTED: Error writing "state.key/0.0": Failed to write 385 bytes '
                "to file 17: No space left on device [os_error_code='28']"
            )

        manager.save = save
        return manager

    monkeypatch.setattr(checkpoints, "_manager", filling)
    config = tiny_config(tmp_path)
    with pytest.raises(checkpoints.DiskFullError) as error:
        train(config)
    (run_dir,) = (tmp_path / "runs" / "CartPole-v1" / "ppo").iterdir()
    assert str(error.value) == (
        f"no space left on device writing checkpoint 12 in {run_dir / 'checkpoints'}; last good "
        f"checkpoint: 8; free some space, then resume with: python -m purejaxrl ppo --resume "
        f"{run_dir}"
    )
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["4", "8"]
    assert json.loads((run_dir / "summary.json").read_text())["updates_done"] == 8


def test_a_run_that_fails_before_training_leaves_no_folder(tmp_path, monkeypatch):
    def broken(sweep, stop=None):
        raise runner.StoppedBeforeTraining("SIGTERM")

    monkeypatch.setattr(runner, "start", broken)
    with pytest.raises(runner.StoppedBeforeTraining):
        train(tiny_config(tmp_path))
    assert not list((tmp_path / "runs").glob("*/*/*"))


def test_processes_agree_on_the_first_difference_named():
    a = {"config": {"lr": 0.001, "num_envs": 4}, "grid": {}}
    b = {"config": {"lr": 0.003, "num_envs": 4}, "grid": {}}
    assert distributed.first_difference(a, b) == ("config.lr", 0.001, 0.003)
    assert distributed.first_difference(a, {**a, "num_seeds": 2})[0] == "num_seeds"


# ---- real processes: signals, a small disk, several JAX processes ----


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "purejaxrl", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **ENV},
    )  # fmt: skip


@pytest.mark.process
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_compiling_exits_130_with_one_line_and_no_folder(sig, tmp_path):
    # a long budget: the run cannot reach training before the signal lands in compilation
    proc = start(
        "ppo", "--total-timesteps", "10000000", "--num-seeds", "2", "--compilation-cache", "",
        cwd=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while "compiling" not in (line := proc.stderr.readline()):
        assert line and time.monotonic() < deadline, "no compilation message"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        f"{sig.name}: stopped before training started; nothing was kept, nothing to resume"
    )
    assert "Traceback" not in err
    assert not list((tmp_path / "runs").glob("*/*/*"))


def can_mount_tmpfs(where: Path) -> bool:
    where.mkdir()
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(where)],
                        capture_output=True).returncode == 0  # fmt: skip
    return ok


@pytest.mark.process
def test_a_full_disk_for_real_ends_in_one_line_and_resume_finishes(tmp_path):
    disk = tmp_path / "disk"
    if not can_mount_tmpfs(disk):
        pytest.skip("mounting a tmpfs needs privileges this machine does not give")
    try:
        args = [
            "--total-timesteps", "8192", "--num-steps", "64", "--no-progress", "--no-tensorboard",
            "--compilation-cache", "", "--chunk-updates", "1", "--checkpoint-every", "1",
            "--keep-checkpoints", "1000", "--runs-dir", str(disk / "runs"),
        ]  # fmt: skip
        proc = start("ppo", *args, cwd=tmp_path)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err
        assert len(err.strip().splitlines()) == 1 and "no space left on device" in err, err
        (run_dir,) = (disk / "runs" / "CartPole-v1" / "ppo").iterdir()
        assert not list((run_dir / "checkpoints").glob("*tmp*"))
        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)
        proc = start("ppo", "--resume", str(run_dir), cwd=tmp_path)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert json.loads((run_dir / "summary.json").read_text())["status"] == "complete"
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.process
def test_processes_started_with_different_options_each_refuse_naming_it(tmp_path):
    address = f"localhost:{free_port()}"
    procs = [
        start(
            "ppo",
            *TINY,
            "--num-seeds",
            "2",
            "--compilation-cache",
            "",
            "--lr",
            lr,
            "--num-processes",
            "2",
            "--process-id",
            str(i),
            "--coordinator-address",
            address,
            cwd=tmp_path,
        )  # fmt: skip
        for i, lr in enumerate(["0.001", "0.003"])
    ]
    errs = [proc.communicate(timeout=120)[1] for proc in procs]
    for i, (proc, err) in enumerate(zip(procs, errs, strict=True)):
        mine, theirs = ("0.001", "0.003") if i == 0 else ("0.003", "0.001")
        assert proc.returncode == 2, err
        assert err.strip() == (
            f"error: lr: {mine} in process {i}, {theirs} in process {1 - i}: every process of a "
            "run must be started with the same options"
        )
    assert not (tmp_path / "runs").exists()


@pytest.mark.process
@pytest.mark.parametrize("process_id", [0, 1])
def test_a_missing_coordinator_or_peer_is_named_within_the_timeout(process_id, tmp_path):
    address = f"localhost:{free_port()}"  # nothing listens there (process 1) or no peer comes
    tick = time.monotonic()
    proc = start(
        "ppo", *TINY, "--num-processes", "2", "--process-id", str(process_id),
        "--coordinator-address", address, "--process-timeout", "3", cwd=tmp_path,
    )  # fmt: skip
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert len(err.strip().splitlines()) == 1 and address in err and "within 3 s" in err, err
    assert time.monotonic() - tick < 60
    assert not (tmp_path / "runs").exists()


def test_the_lock_is_taken_on_a_new_run_folder_too(tmp_path, monkeypatch):
    seen = []

    def check(sweep, stop=None):
        with pytest.raises(outputs.RunFolderError, match="in use by process"):
            outputs.RunFolderLock(sweep.run_dir).acquire()
        seen.append(sweep.run_dir)
        raise runner.StoppedBeforeTraining("SIGINT")

    monkeypatch.setattr(runner, "start", check)
    with pytest.raises(runner.StoppedBeforeTraining):
        train(tiny_config(tmp_path))
    assert len(seen) == 1 and not seen[0].exists()  # the unstarted folder is gone


def test_a_refused_resume_leaves_no_lock_held(tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="no complete checkpoint"):
        train(tiny_config(tmp_path), resume=tmp_path)
    outputs.RunFolderLock(tmp_path).acquire().release()


@pytest.mark.slow
def test_a_budget_that_is_not_whole_updates_is_rounded_down_with_a_note(tmp_path, capsys):
    args = [*TINY, "--compilation-cache", "", "--runs-dir", str(tmp_path), "--eval-episodes", "0"]
    result = cli.main("ppo", [*args, "--total-timesteps", "2.1e3"])
    err = capsys.readouterr().err
    assert (
        "note: total_timesteps=2,100 is not a whole number of updates of 256 env steps: "
        "training 2,048 env steps per run (8 updates)"
    ) in err
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert (summary["total_timesteps_asked"], summary["total_timesteps_trained"]) == (2100, 2048)
    assert summary["env_steps_per_run"] == 2048


def test_the_default_budget_is_rounded_down_without_a_note(capsys):
    """PPO's default 500,000 steps are 976 whole updates of 512 and a rest: a default run says
    nothing about it; the same rounding of a budget the user chose is noted."""
    default = PPOConfig()
    learner = SimpleNamespace(num_updates=default.num_updates, steps_per_update=512)
    assert default.num_updates * 512 != default.total_timesteps
    runner._note_budget(default, learner)
    assert "note: total_timesteps" not in capsys.readouterr().err
    chosen = dataclasses.replace(default, total_timesteps=default.total_timesteps + 1)
    runner._note_budget(chosen, learner)
    assert "note: total_timesteps=500,001 is not a whole number" in capsys.readouterr().err
    # a suite's own default (MuJoCo's 1e6 = 488 updates of 2,048 and a rest) is silent too
    mujoco = PPOConfig.for_env("HalfCheetah-v4")
    runner._note_budget(mujoco, SimpleNamespace(num_updates=488, steps_per_update=2048))
    assert "note: total_timesteps" not in capsys.readouterr().err
