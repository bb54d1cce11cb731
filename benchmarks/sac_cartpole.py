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

import argparse
import dataclasses
import json
import math
from pathlib import Path

from purejaxrl import runner
from purejaxrl.devices import split_cpu
from purejaxrl.outputs import atomic_write_json, plot_curves
from purejaxrl.sac import DISCRETE_TARGET_ENTROPY_RATIO, SACConfig, make_learner

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-seeds", type=int, default=8)
    parser.add_argument("--total-timesteps", type=int, default=150_000)
    args = parser.parse_args()

    config = SACConfig(
        env_id="CartPole-v1",
        total_timesteps=args.total_timesteps,
        num_seeds=args.num_seeds,
        progress=False,
        compilation_cache="",
    )
    result = runner.run(config, make_learner, "sac", write=False)
    row = result.summary["results"][0]
    alpha = result.metrics["alpha"][0]  # (seed, update)
    record = {
        "command": f"python benchmarks/sac_cartpole.py --num-seeds {args.num_seeds} "
        f"--total-timesteps {args.total_timesteps}",
        "config": dataclasses.asdict(config),
        "final_return_mean": row["final_return_mean"],
        "final_return_ci95": row["final_return_ci95"],
        "final_return_iqm": row["final_return_iqm"],
        "final_return_per_seed": row["final_return_per_seed"],
        "final_alpha_per_seed": alpha[:, -1].tolist(),
        "final_entropy_per_seed": result.metrics["entropy"][0][:, -1].tolist(),
        "target_entropy": DISCRETE_TARGET_ENTROPY_RATIO * math.log(2) * config.target_entropy_scale,
        "compile_time_s": result.summary["compile_time_s"],
        "run_time_s": result.summary["run_time_s"],
        "steps_per_second": result.summary["steps_per_second"],
        **runner.environment_record(),
    }
    print(json.dumps({k: v for k, v in record.items() if k != "config"}), flush=True)
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "sac_cartpole.json", record)
    plot_curves(
        RESULTS / "sac_cartpole_curve.png",
        result.env_steps,
        result.metrics["episode_return"],
        ["discrete SAC"],
        f"CartPole-v1, SAC defaults, {args.total_timesteps:,} steps "
        f"({args.num_seeds} seeds, 95% bands)",
    )


if __name__ == "__main__":
    split_cpu()  # one JAX device per core, before anything starts JAX
    main()
