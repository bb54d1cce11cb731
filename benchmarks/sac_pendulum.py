"""SAC, DDPG and TD3 on Pendulum-v1 at 2e4 env steps (the SB3 zoo budget), 8 seeds each, every
algorithm at its defaults; results in benchmarks/results/sac_pendulum.json and the three learning
curves in sac_pendulum_curve.png.

SAC runs `purejaxrl.sac` as configured (64x64 networks, one gradient step per 2 env steps, 1,000
random steps first, learned temperature); DDPG and TD3 run `purejaxrl.ddpg` with only the budget
changed (TD3 is `--td3`; both keep their 5,000 random steps first and one gradient step per 4 env
steps). One 8-seed run per algorithm through the shared runner, no progress bar, compilation cache
off. The project's target: SAC >= -250 (SB3's zoo reports about -150 to -180).

    python benchmarks/sac_pendulum.py [--num-seeds 8] [--total-timesteps 20000]
"""

from __future__ import annotations

import dataclasses

import common

from purejaxrl import ddpg, runner, sac
from purejaxrl.outputs import plot_curves


def main() -> None:
    args = common.argument_parser(__doc__, num_seeds=8, total_timesteps=20_000).parse_args()

    shared = dict(env_id="Pendulum-v1", **common.run_settings(args))
    algos = {
        "sac": (sac.SACConfig(**shared), sac.make_learner, "sac"),
        "ddpg": (ddpg.DDPGConfig(**shared), ddpg.make_learner, "ddpg"),
        "td3": (ddpg.DDPGConfig(**shared, td3=True), ddpg.make_learner, "ddpg"),
    }
    results = {}
    for name, (config, make_learner, algo) in algos.items():
        results[name] = runner.run(config, make_learner, algo, write=False)
        common.report(name, common.returns_row(results[name]))

    plot_curves(
        common.result_file("sac_pendulum_curve.png"),
        [result.env_steps for result in results.values()],
        [result.metrics["episode_return"][0] for result in results.values()],
        ["SAC", "DDPG", "TD3"],
        f"Pendulum-v1, defaults, {args.total_timesteps:,} steps "
        f"({args.num_seeds} seeds, 95% bands)",
    )
    record = {
        "command": common.command(args),
        "configs": {name: dataclasses.asdict(config) for name, (config, _, _) in algos.items()},
        "returns": {name: common.returns_row(result) for name, result in results.items()},
        "sac_final_alpha_per_seed": results["sac"].metrics["alpha"][0, :, -1].tolist(),
    }
    common.write_record("sac_pendulum", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
