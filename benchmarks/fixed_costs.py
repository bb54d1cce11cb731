"""Where a small run's wall time goes outside compile and run; results in benchmarks/results/fixed_costs.json.

Runs `python -m purejaxrl <algo> ...` (PPO on CartPole-v1, 5e5 steps, one seed, by default) in
fresh processes, `--rounds` times, with the persistent compilation cache off, and splits each
process's wall time into the runner's phases, timed from inside the child (its functions are
wrapped, not changed):

    start-up    interpreter start and `import purejaxrl.cli` (jax, numpy, ...)
    config      flags, the config and the env spec (imports gymnax and the algorithm)
    set-up      validation, the run folder, the learner, the inputs on the devices
    compile     the runner's compile time (init and chunk programs)
    initialise  the rest of the runner's `start`: the first state, the first checkpoint's thread
    run         the runner's run time (the chunks)
    chunk ends  the rest of `train_chunks`: syncs, progress, TensorBoard, checkpoints
    outputs     summary, metrics, plot (`write_outputs`) and the exported policy
    greedy eval the greedy evaluation at the end (its own compile and run)
    other       the rest of `main`: the algorithm's module (flax, optax), flags, the table
    exit        from the end of `main` to the process's exit (atexit handlers; the interpreter's
                teardown, which `python -m purejaxrl` skips since `cli.run_as_process`)

It also lists the packages whose imports cost most (`-X importtime` in one extra process, self
times summed per top-level package). Medians over the rounds.

    python benchmarks/fixed_costs.py [--rounds 5] [--total-timesteps 500000] [--algo ppo]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

PHASES = (
    "start-up", "config", "set-up", "compile", "initialise", "run", "chunk ends", "outputs",
    "greedy eval", "other", "exit",
)  # fmt: skip


def child(out: str, argv: list[str]) -> None:
    """One timed run: wraps the runner's phases, runs the command line, writes the times."""
    begun = time.perf_counter()
    wall_begun = time.time()
    from purejaxrl import cli, runner

    times = {}

    def timed(module, name: str, phase: str) -> None:
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                times[phase] = times.get(phase, 0.0) + time.perf_counter() - start

        setattr(module, name, wrapper)

    timed(cli, "config_from_flags", "config")
    timed(runner, "set_up", "set-up")
    timed(runner, "start", "start")
    timed(runner, "train_chunks", "chunks")
    timed(runner, "finish", "finish")
    timed(runner, "record_greedy_evaluation", "greedy eval")
    times["greedy eval"] = 0.0
    main_begun = time.perf_counter()
    result = cli.main(argv[0], argv[1:])
    times["main"] = time.perf_counter() - main_begun
    summary = result.summary
    times["compile"] = summary["compile_time_s"]
    times["run"] = summary["run_time_s"]
    times["checkpoints"] = summary.get("checkpoint_time_s", 0.0)
    times["initialise"] = times.pop("start") - times["compile"]
    times["chunk ends"] = times.pop("chunks") - times["run"]
    times["outputs"] = times.pop("finish") - times["greedy eval"]
    measured = ("config", "set-up", "compile", "initialise", "run", "chunk ends", "outputs")
    times["other"] = times.pop("main") - sum(times[k] for k in (*measured, "greedy eval"))
    times["main_ended_at"] = wall_begun + (time.perf_counter() - begun)
    Path(out).write_text(json.dumps(times))


def child_process(out: str, argv: list[str]) -> None:
    """`child` ended as `python -m purejaxrl` ends (`cli.run_as_process`, where the code has it)."""
    from purejaxrl import cli

    if hasattr(cli, "run_as_process"):
        cli.run_as_process(lambda: child(out, argv))  # does not return
    else:  # the code before it
        child(out, argv)


def one_process(argv: list[str], workdir: str) -> dict:
    out = os.path.join(workdir, "times.json")
    command = [sys.executable, __file__, "--child", out, *argv]
    started = time.time()
    subprocess.run(command, check=True, cwd=workdir, stdout=subprocess.DEVNULL)
    ended = time.time()
    times = json.loads(Path(out).read_text())
    times["exit"] = ended - times.pop("main_ended_at")
    times["total"] = ended - started
    # interpreter start before the child's first line belongs to start-up
    times["start-up"] = times["total"] - sum(times[k] for k in PHASES if k != "start-up")
    return times


def import_costs(argv: list[str], workdir: str, top: int = 12) -> dict:
    """Self import time (s) per top-level package in one `-X importtime` process."""
    out = os.path.join(workdir, "times.json")
    command = [sys.executable, "-X", "importtime", __file__, "--child", out, *argv]
    lines = subprocess.run(
        command, check=True, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    ).stderr.splitlines()  # fmt: skip
    per_package: dict[str, float] = {}
    for line in lines:
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, _, name = (part.strip() for part in line.replace("|", ":").split(":", 3))
        package = name.split(".")[0]
        per_package[package] = per_package.get(package, 0.0) + int(self_us) / 1e6
    ranked = sorted(per_package.items(), key=lambda item: -item[1])
    return {
        "total_s": round(sum(per_package.values()), 3),
        "top_s": {name: round(s, 3) for name, s in ranked[:top]},
    }


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_process(sys.argv[2], sys.argv[3:])
        return
    parser = common.argument_parser(__doc__, rounds=5, total_timesteps=500_000)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--env-id", default="CartPole-v1")
    parser.add_argument("--num-seeds", type=int, default=1)
    parser.add_argument("--out", default="fixed_costs", help="results/<out>.json")
    args = parser.parse_args()
    argv = [
        args.algo, "--env-id", args.env_id, "--total-timesteps", str(args.total_timesteps),
        "--num-seeds", str(args.num_seeds), "--compilation-cache", "",
    ]  # fmt: skip
    rounds = []
    with tempfile.TemporaryDirectory() as workdir:
        for r in range(args.rounds):
            rounds.append(
                one_process([*argv, "--runs-dir", os.path.join(workdir, "runs")], workdir)
            )
            common.report(f"round {r + 1}", {k: round(v, 2) for k, v in rounds[-1].items()})
        imports = import_costs([*argv, "--runs-dir", os.path.join(workdir, "runs")], workdir)
    median = {k: round(statistics.median(r[k] for r in rounds), 2) for k in (*PHASES, "total")}
    outside = median["total"] - median["compile"] - median["run"]
    record = {
        "command": common.command(args),
        "child_command": "python -m purejaxrl " + " ".join(argv),
        "median_s": median,
        "outside_compile_and_run_s": round(outside, 2),
        "checkpoints_s_median": round(statistics.median(r["checkpoints"] for r in rounds), 2),
        "rounds": rounds,
        "imports": imports,
    }
    common.report("median", median)
    common.report("imports", imports)
    common.write_record(args.out, record)


if __name__ == "__main__":
    main()
