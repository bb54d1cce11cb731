"""What chunked execution costs, and the compilation cache with the progress bar on.

The runner advances a sweep in chunks of `chunk_updates` updates and returns to the host between
them (progress, divergence checks, live metrics, checkpoints, signals). This times, in alternating
rounds (medians over `--repeats`):

- one whole `lax.scan` over every update (`make_train`, jitted and vmapped over seeds): the
  program without any return to the host;
- the runner at several chunk sizes (auto = 1% of the updates), nothing written;
- the runner at the auto chunk size writing everything a CLI run writes (TensorBoard at every
  chunk, a checkpoint every `checkpoint_every` updates, the outputs at the end);

all on PPO CartPole-v1 (an update is ~3 ms here, so the per-chunk cost shows most) and DQN
CartPole-v1. Then the compilation cache: the same CLI run twice in fresh processes, with the
progress bar on, sharing a fresh cache folder; the second compile time shows the cache hit.

    python benchmarks/chunking.py [--repeats 5] [--total-timesteps 500000]
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import jax

from purejaxrl import dqn, ppo, runner
from purejaxrl.hparams import hparams


def whole_scan_time(module, config) -> float:
    """Seconds of the compiled call of the whole run (all seeds vmapped), compile excluded."""
    train = jax.jit(jax.vmap(module.make_train(config), in_axes=(0, None)))
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    compiled = train.lower(keys, hparams(config)).compile()
    start = time.perf_counter()
    jax.block_until_ready(compiled(keys, hparams(config)))
    return time.perf_counter() - start


def runner_time(module, config, algo: str, write: bool, runs_dir: str) -> float:
    """Run time as the runner reports it, plus the checkpoint time when it writes outputs."""
    config = dataclasses.replace(config, runs_dir=runs_dir)
    summary = runner.run(config, module.make_learner, algo, write=write).summary
    return summary["run_time_s"] + summary["checkpoint_time_s"]


def cache_hit(algo: str, total_timesteps: int) -> dict:
    """Compile times of two identical CLI runs (progress bar on) sharing a fresh cache."""
    times = []
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as runs:
        for _ in range(2):
            command = [
                sys.executable, "-m", f"purejaxrl.{algo}", "--total-timesteps",
                str(total_timesteps), "--compilation-cache", cache, "--runs-dir", runs,
            ]  # fmt: skip
            subprocess.run(command, check=True, capture_output=True, env=os.environ)
        for summary in sorted(Path(runs).glob("*/*/*/summary.json")):
            times.append(json.loads(summary.read_text())["compile_time_s"])
    return {
        "algo": algo,
        "progress": True,
        "first_compile_s": times[0],
        "second_compile_s": times[1],
    }


def main() -> None:
    parser = common.argument_parser(__doc__, repeats=5, total_timesteps=500_000)
    parser.add_argument("--algos", nargs="+", default=["ppo", "dqn"], choices=["ppo", "dqn"])
    args = parser.parse_args()

    rows = []
    workloads = [
        ("ppo", ppo, ppo.PPOConfig(total_timesteps=args.total_timesteps)),
        ("dqn", dqn, dqn.DQNConfig(total_timesteps=args.total_timesteps)),
    ]
    for algo, module, base in [w for w in workloads if w[0] in args.algos]:
        base = dataclasses.replace(base, progress=False, compilation_cache="", num_seeds=1)
        num_updates = module.make_learner(base).num_updates
        auto = runner.chunk_size(base, num_updates)
        variants = {"whole scan": None}
        for k in sorted({1, auto, 4 * auto, num_updates}):
            variants[f"runner, chunks of {k}"] = (k, False)
        variants[f"runner, chunks of {auto}, writing outputs"] = (auto, True)
        times = {name: [] for name in variants}
        with tempfile.TemporaryDirectory() as runs_dir:
            for _ in range(args.repeats):
                for name, variant in variants.items():  # alternating rounds
                    if variant is None:
                        times[name].append(whole_scan_time(module, base))
                    else:
                        k, write = variant
                        config = dataclasses.replace(base, chunk_updates=k)
                        times[name].append(runner_time(module, config, algo, write, runs_dir))
        whole = statistics.median(times["whole scan"])
        for name, values in times.items():
            median = statistics.median(values)
            rows.append(
                {
                    "algo": algo,
                    "variant": name,
                    "num_updates": num_updates,
                    "run_time_s": median,
                    "run_times_s": values,
                    "ratio_to_whole_scan": median / whole,
                }
            )
            common.report(rows[-1])

    caches = [cache_hit("ppo", args.total_timesteps)]
    common.report(caches[-1])
    record = {
        "command": common.command(args),
        "device": f"{len(jax.devices())} x {jax.devices()[0].device_kind}",
        "rows": rows,
        "compilation_cache": caches,
    }
    common.write_record("chunking", record, environment=False)


if __name__ == "__main__":
    common.run_on_all_cores(main)
