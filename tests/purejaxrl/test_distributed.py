"""Sweeps over several processes (jax.distributed on localhost, one CPU device per process):
the same numbers as one process with as many devices, a lost process named within the bound,
resume with the processes' checkpoints, padding that never reaches the outputs, bad input
refused by every process alike. Every wait is bounded."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from run_folders import assert_same_outputs, the_run_dir

pytestmark = pytest.mark.process

TINY = {
    "ppo": [
        "--total-timesteps", "4096", "--num-steps", "32", "--num-envs", "4",
        "--num-seeds", "2", "--lr", "1e-3", "3e-3",
    ],
    "dqn": [
        "--total-timesteps", "2000", "--num-envs", "4", "--buffer-size", "500",
        "--batch-size", "16", "--learning-starts", "200", "--train-frequency", "4",
        "--target-update-interval", "40", "--steps-per-update", "200", "--num-seeds", "2",
        "--tau", "0.5", "1.0",
    ],
}  # fmt: skip
COMMON = ["--compilation-cache", "", "--no-progress", "--checkpoint-every", "2"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start(algo, args, cwd, devices, extra=()):
    return subprocess.Popen(
        [sys.executable, "-m", f"purejaxrl.{algo}", *args, *extra],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PUREJAXRL_CPU_DEVICES": str(devices), "JAX_PLATFORMS": "cpu"},
    )


def start_processes(algo, args, cwd, count=2, extra=()):
    address = f"localhost:{free_port()}"
    return [
        start(
            algo,
            args,
            cwd,
            1,
            [
                "--num-processes",
                str(count),
                "--process-id",
                str(i),
                "--coordinator-address",
                address,
                *extra,
            ],
        )  # fmt: skip
        for i in range(count)
    ]


def finish_all(procs, timeout=300):
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, out, err))
    return results


def one_process(algo, args, cwd):
    cwd.mkdir()
    (result,) = finish_all([start(algo, args, cwd, 2)])
    assert result[0] == 0, result[2]
    return the_run_dir(cwd)


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_two_processes_give_the_numbers_of_one_process_with_two_devices(algo, tmp_path):
    single = one_process(algo, [*TINY[algo], *COMMON], tmp_path / "one")
    (tmp_path / "two").mkdir()
    results = finish_all(start_processes(algo, [*TINY[algo], *COMMON], tmp_path / "two"))
    for rc, _, err in results:
        assert rc == 0, err
    assert (
        "final return" in results[0][1] and "final return" not in results[1][1]
    )  # process 0 prints
    both = the_run_dir(tmp_path / "two")
    assert len(list((tmp_path / "two" / "runs").glob("*/*/*"))) == 1  # one folder, by process 0
    assert_same_outputs(single, both)


def test_a_run_count_that_does_not_divide_is_padded_and_the_padding_never_shows(tmp_path):
    args = [*TINY["ppo"][:-4], "3", *COMMON]  # --num-seeds 3: 3 runs over 2 processes
    single = one_process("ppo", args, tmp_path / "one")
    (tmp_path / "two").mkdir()
    for rc, _, err in finish_all(start_processes("ppo", args, tmp_path / "two")):
        assert rc == 0, err
    both = the_run_dir(tmp_path / "two")
    assert np.load(both / "metrics.npz")["loss"].shape[:2] == (1, 3)
    assert len(json.loads((both / "summary.json").read_text())["results"][0][
        "final_return_per_seed"]) == 3  # fmt: skip
    assert_same_outputs(single, both)


def test_a_lost_process_stops_the_other_within_the_bound_and_both_resume(tmp_path):
    args = [
        "--total-timesteps", "40960", "--num-steps", "32", "--num-envs", "4",
        "--num-seeds", "2", "--chunk-updates", "4", "--checkpoint-every", "4",
        "--compilation-cache", "", "--no-progress",
    ]  # fmt: skip
    procs = start_processes("ppo", args, tmp_path, extra=["--process-timeout", "20"])
    deadline = time.monotonic() + 240
    run_dir = None
    while time.monotonic() < deadline:
        run_dir = the_run_dir(tmp_path)
        if run_dir is not None and (run_dir / "checkpoints" / "8").is_dir():
            break
        assert all(p.poll() is None for p in procs), "a process ended early"
        time.sleep(0.05)
    else:
        for p in procs:
            p.kill()
        pytest.fail("no second checkpoint within 240 s")
    procs[1].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    out, err = procs[0].communicate(timeout=120)
    waited = time.monotonic() - killed_at
    procs[1].wait(timeout=30)
    assert procs[0].returncode == 3, err
    assert waited < 20 + 30, waited  # the bound, plus the chunk in flight
    assert "error: process 1 of 2 did not reach" in err and "Traceback" not in err

    from purejaxrl import checkpoints

    step = checkpoints.latest_step(run_dir)
    assert step is not None and step >= 8
    results = finish_all(start_processes("ppo", ["--resume", str(run_dir)], tmp_path), timeout=600)
    for rc, _, err in results:
        assert rc == 0, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["updates_done"] == summary["num_updates"]


def test_a_two_process_run_resumes_on_one_process(tmp_path):
    """Same total device count (1 process x 2 devices): bit for bit the 2-process run; another
    device count (1 process x 1 device): completes, with the bitwise promise dropped aloud."""
    (tmp_path / "two").mkdir()
    args = [*TINY["ppo"], *COMMON, "--keep-checkpoints", "100"]
    for rc, _, err in finish_all(start_processes("ppo", args, tmp_path / "two")):
        assert rc == 0, err
    reference = the_run_dir(tmp_path / "two")
    for devices in (2, 1):
        run_dir = tmp_path / f"resumed_on_{devices}" / "run"
        shutil.copytree(reference, run_dir)
        for folder in (run_dir / "checkpoints").iterdir():
            if folder.name.isdigit() and int(folder.name) > 12:  # back to update 12 of 32
                shutil.rmtree(folder)
        proc = start("ppo", ["--resume", str(run_dir)], tmp_path, devices)
        ((rc, _, err),) = finish_all([proc])
        assert rc == 0, err
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "complete" and summary["updates_done"] == 32
        if devices == 2:
            assert "not promised" not in err
            assert_same_outputs(reference, run_dir)
        else:
            assert "resumed on 1 device(s), started on 2" in err


def test_bad_input_is_refused_by_every_process_with_the_same_line(tmp_path):
    procs = start_processes("ppo", [*TINY["ppo"], "--gamma", "1.5", *COMMON], tmp_path)
    errors = set()
    for rc, _, err in finish_all(procs, timeout=180):
        assert rc == 2
        errors.add(err.strip().splitlines()[-1])
    assert errors == {"error: gamma=1.5: must be a finite number in [0.0, 1.0]"}
    proc = start("ppo", ["--num-processes", "2", "--process-id", "2",
                         "--coordinator-address", "localhost:1"], tmp_path, 1)  # fmt: skip
    ((rc, _, err),) = finish_all([proc], timeout=120)
    assert rc == 2 and err.strip() == ("error: --process-id=2: must be in [0, --num-processes=2)")
