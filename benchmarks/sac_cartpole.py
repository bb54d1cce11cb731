"""Discrete SAC on CartPole-v1 at sac.py's defaults, 1.5e5 env steps, 8 seeds; results in
benchmarks/results/sac_cartpole.json and sac_cartpole_curve.png.

The discrete form (Christodoulou 2019): categorical policy, exact expectations over the two
actions, entropy target 0.7 log 2 = 0.485 nats (`--target-entropy-scale 1`, see
`sac.DISCRETE_TARGET_ENTROPY_RATIO`; the paper's 0.98 log 2 makes alpha run away here),
otherwise the same defaults as on Pendulum (64x64 networks, batch 256, one gradient step per 2 env
steps, 1,000 random steps first). One 8-seed run through the shared runner, no progress bar,
compilation cache off.

Budget: the issue asks for 5e5 steps, but one gradient step of 8 seeds costs about 11 ms on this
2-core machine (measured: 2e4 gradient steps of 8 runs in 224 s), so 5e5 steps would take about
47 minutes; the default of 1.5e5 takes about 14 (`--total-timesteps 500000` runs the full budget).

    python benchmarks/sac_cartpole.py [--num-seeds 8] [--total-timesteps 150000]
"""

from __future__ import annotations

import dataclasses
import math

import common

from purejaxrl import runner
from purejaxrl.outputs import plot_curves
from purejaxrl.sac import DISCRETE_TARGET_ENTROPY_RATIO, SACConfig, make_learner


def main() -> None:
    args = common.argument_parser(__doc__, num_seeds=8, total_timesteps=150_000).parse_args()

    config = SACConfig(env_id="CartPole-v1", **common.run_settings(args))
    result = runner.run(config, make_learner, "sac", write=False)
    alpha = result.metrics["alpha"][0]  # (seed, update)
    target_entropy = DISCRETE_TARGET_ENTROPY_RATIO * math.log(2) * config.target_entropy_scale
    record = {
        "command": common.command(args),
        "config": dataclasses.asdict(config),
        **common.returns_row(
            result,
            final_alpha_per_seed=alpha[:, -1].tolist(),
            final_entropy_per_seed=result.metrics["entropy"][0][:, -1].tolist(),
            target_entropy=target_entropy,
            steps_per_second=result.summary["steps_per_second"],
        ),
    }
    common.report({k: v for k, v in record.items() if k != "config"})
    common.write_record("sac_cartpole", record)
    plot_curves(
        common.result_file("sac_cartpole_curve.png"),
        result.env_steps,
        result.metrics["episode_return"],
        ["discrete SAC"],
        f"CartPole-v1, SAC defaults, {args.total_timesteps:,} steps "
        f"({args.num_seeds} seeds, 95% bands)",
    )


if __name__ == "__main__":
    common.run_on_all_cores(main)
