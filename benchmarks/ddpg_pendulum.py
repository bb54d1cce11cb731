"""DDPG and TD3 on Pendulum-v1 at the defaults (5e4 steps); results in benchmarks/results/.

Measures, each `--repeats` times (medians reported): compile and run time of DDPG for 1 and 8
seeds (no progress bar, persistent compilation cache off), the raw env-step ceiling (the same
number of envs with random actions in a jitted scan), and the returns of DDPG and TD3 at the same
budget, 8 seeds each, with their learning curves in one plot. Also one 8-seed DDPG run on
MountainCarContinuous-v0 with Ornstein-Uhlenbeck noise (`--mountain-car-steps`, 0 to skip).

    python benchmarks/ddpg_pendulum.py [--repeats 3] [--mountain-car-steps 200000]
"""

from __future__ import annotations

import dataclasses

import common
import numpy as np

from purejaxrl import runner
from purejaxrl.ddpg import DDPGConfig, make_learner
from purejaxrl.outputs import plot_curves


def main() -> None:
    args = common.argument_parser(__doc__, repeats=3, mountain_car_steps=200_000).parse_args()

    base = DDPGConfig(progress=False, compilation_cache="")
    timings = []
    for seeds in (1, 8):
        config = dataclasses.replace(base, num_seeds=seeds)
        timings.append(common.timed_runs(config, make_learner, "ddpg", args.repeats))
        common.report(timings[-1])
    ceilings = [
        common.env_ceiling("Pendulum-v1", base.num_envs * seeds, base.total_timesteps, args.repeats)
        for seeds in (1, 8)
    ]

    compared = {}
    for name, td3 in (("ddpg", False), ("td3", True)):
        config = dataclasses.replace(base, num_seeds=8, td3=td3)
        compared[name] = runner.run(config, make_learner, "ddpg", write=False)
        common.report(name, common.returns_row(compared[name]))
    plot_curves(
        common.result_file("ddpg_pendulum_curve.png"),
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
        mountain_car = common.returns_row(runner.run(config, make_learner, "ddpg", write=False))
        mountain_car["config"] = dataclasses.asdict(config)
        common.report("mountain car", mountain_car)

    record = {
        "command": common.command(args),
        "config": dataclasses.asdict(base),
        "ddpg_timing": timings,
        "env_ceiling": ceilings,
        "returns_8_seeds": {k: common.returns_row(v) for k, v in compared.items()},
        "mountain_car_continuous": mountain_car,
    }
    common.write_record("ddpg_pendulum", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
