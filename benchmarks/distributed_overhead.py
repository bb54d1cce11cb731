"""What running a sweep over several processes (jax.distributed) costs against one process.

A 16-run PPO CartPole-v1 sweep (8 seeds x 2 learning rates) on the same cores and the same total
device count, in alternating rounds (medians over `--repeats`):

    one process     1 process x 2 CPU devices
    two processes   2 processes x 1 CPU device each, coordinator on localhost

Each is a real CLI run writing its run folder; the figures come from its `summary.json`: run
time, compile time, and `sync_time_s`, the time the processes spent checking in with each other
and gathering each chunk's metrics to every process (part of the run time).

    python benchmarks/distributed_overhead.py [--repeats 3] [--total-timesteps 100000]
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import common


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def sweep(processes: int, args, folder: Path) -> dict:
    """One CLI run of the sweep over `processes` processes; the summary of its run folder."""
    command = [
        sys.executable, "-m", "purejaxrl.ppo", "--num-seeds", "8", "--lr", "2.5e-4", "1e-3",
        "--total-timesteps", str(args.total_timesteps), "--no-progress",
        "--compilation-cache", "", "--checkpoint-every", "0", "--runs-dir", str(folder),
    ]  # fmt: skip
    devices = 2 // processes
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PUREJAXRL_CPU_DEVICES": str(devices)}
    if processes == 1:
        procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)]
    else:
        address = f"localhost:{free_port()}"
        procs = [
            subprocess.Popen(
                [
                    *command,
                    "--num-processes",
                    str(processes),
                    "--process-id",
                    str(i),
                    "--coordinator-address",
                    address,
                ],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for i in range(processes)
        ]
    for proc in procs:
        proc.communicate(timeout=1800)
        if proc.returncode:
            raise SystemExit(f"{processes}-process sweep failed (exit {proc.returncode})")
    (summary,) = folder.glob("*/*/*/summary.json")
    return json.loads(summary.read_text())


def main() -> None:
    args = common.argument_parser(__doc__, repeats=3, total_timesteps=100_000).parse_args()

    rounds: dict[int, list[dict]] = {1: [], 2: []}
    for repeat in range(args.repeats):
        for processes in (1, 2) if repeat % 2 == 0 else (2, 1):
            with tempfile.TemporaryDirectory() as folder:
                s = sweep(processes, args, Path(folder))
            row = {k: s[k] for k in ("run_time_s", "compile_time_s", "sync_time_s")}
            row["final_return"] = [r["final_return_mean"] for r in s["results"]]
            rounds[processes].append(row)
            common.report(processes, row)
    table = {}
    for processes, rows in rounds.items():
        run = statistics.median(r["run_time_s"] for r in rows)
        sync = statistics.median(r["sync_time_s"] for r in rows)
        table[processes] = {
            "run_time_s": run,
            "run_time_per_run_s": run / 16,
            "compile_time_s": statistics.median(r["compile_time_s"] for r in rows),
            "sync_time_s": sync,
            "sync_share": sync / run,
        }
        common.report(processes, "process(es):", table[processes])
    record = {
        "command": common.command(),
        "runs": 16,
        "rounds": {str(k): v for k, v in rounds.items()},
        "medians": {str(k): v for k, v in table.items()},
        "two_over_one_run_time": table[2]["run_time_s"] / table[1]["run_time_s"],
    }
    common.write_record("distributed_overhead", record, environment=False)
    print(f"run time, 2 processes / 1 process: {record['two_over_one_run_time']:.3f}")


if __name__ == "__main__":
    main()
