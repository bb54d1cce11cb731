"""DDPG and TD3 on Pendulum-v1 at the defaults (5e4 steps); results in benchmarks/results/.

Measures, each `--repeats` times (medians reported): compile and run time of DDPG for 1 and 8
seeds (no progress bar, persistent compilation cache off), the raw env-step ceiling (the same
number of envs with random actions in a jitted scan), and the returns of DDPG and TD3 at the same
budget, 8 seeds each, with their learning curves in one plot. Also one 8-seed DDPG run on
MountainCarContinuous-v0 with Ornstein-Uhlenbeck noise (`--mountain-car-steps`, 0 to skip).

    python benchmarks/ddpg_pendulum.py [--repeats 3] [--mountain-car-steps 200000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from ceiling import env_steps_per_second
from timing import timed_runs

from purejaxrl import runner
from purejaxrl.ddpg import DDPGConfig, make_learner
from purejaxrl.devices import split_cpu
from purejaxrl.outputs import atomic_write_json, plot_curves

RESULTS = Path(__file__).parent / "results"


def returns_row(result: runner.RunResult) -> dict:
    row = result.summary["results"][0]
    return {
        "final_return_mean": row["final_return_mean"],
        "final_return_ci95": row["final_return_ci95"],
        "final_return_iqm": row["final_return_iqm"],
        "final_return_per_seed": row["final_return_per_seed"],
        "compile_time_s": result.summary["compile_time_s"],
        "run_time_s": result.summary["run_time_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mountain-car-steps", type=int, default=200_000)
    args = parser.parse_args()

    base = DDPGConfig(progress=False, compilation_cache="")
    timings = []
    for seeds in (1, 8):
        config = dataclasses.replace(base, num_seeds=seeds)
        timings.append(timed_runs(config, make_learner, "ddpg", args.repeats))
        print(json.dumps(timings[-1]), flush=True)
    ceilings = []
    for seeds in (1, 8):
        num_envs = base.num_envs * seeds
        rate = env_steps_per_second("Pendulum-v1", num_envs, base.total_timesteps, args.repeats)
        ceilings.append({"num_envs": num_envs, "steps_per_second": rate})
        print(json.dumps(ceilings[-1]), flush=True)

    compared = {}
    for name, td3 in (("ddpg", False), ("td3", True)):
        config = dataclasses.replace(base, num_seeds=8, td3=td3)
        compared[name] = runner.run(config, make_learner, "ddpg", write=False)
        print(name, json.dumps(returns_row(compared[name])), flush=True)
    RESULTS.mkdir(exist_ok=True)
    plot_curves(
        RESULTS / "ddpg_pendulum_curve.png",
        compared["ddpg"].env_steps,
        np.concatenate([compared[k].metrics["episode_return"] for k in compared]),
        ["DDPG", "TD3"],
        f"Pendulum-v1, defaults, {base.total_timesteps:,} steps (8 seeds, 95% bands)",
    )

    mountain_car = None
    if args.mountain_car_steps:
        config = dataclasses.replace(
            base, env_id="MountainCarContinuous-v0", num_seeds=8, noise="ou",
            exploration_noise=0.5, total_timesteps=args.mountain_car_steps,
            learning_starts=10_000,
        )  # fmt: skip
        mountain_car = returns_row(runner.run(config, make_learner, "ddpg", write=False))
        mountain_car["config"] = dataclasses.asdict(config)
        print("mountain car", json.dumps(mountain_car), flush=True)

    record = {
        "command": f"python benchmarks/ddpg_pendulum.py --repeats {args.repeats} "
        f"--mountain-car-steps {args.mountain_car_steps}",
        "config": dataclasses.asdict(base),
        "ddpg_timing": timings,
        "env_ceiling": ceilings,
        "returns_8_seeds": {k: returns_row(v) for k, v in compared.items()},
        "mountain_car_continuous": mountain_car,
        **runner.environment_record(),
    }
    atomic_write_json(RESULTS / "ddpg_pendulum.json", record)


if __name__ == "__main__":
    split_cpu()  # one JAX device per core, before anything starts JAX
    main()
