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

import argparse
import dataclasses
import json
from pathlib import Path

from purejaxrl import ddpg, runner, sac
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
    parser.add_argument("--num-seeds", type=int, default=8)
    parser.add_argument("--total-timesteps", type=int, default=20_000)
    args = parser.parse_args()

    common = dict(
        env_id="Pendulum-v1",
        total_timesteps=args.total_timesteps,
        num_seeds=args.num_seeds,
        progress=False,
        compilation_cache="",
    )
    algos = {
        "sac": (sac.SACConfig(**common), sac.make_learner, "sac"),
        "ddpg": (ddpg.DDPGConfig(**common), ddpg.make_learner, "ddpg"),
        "td3": (ddpg.DDPGConfig(**common, td3=True), ddpg.make_learner, "ddpg"),
    }
    results = {}
    for name, (config, make_learner, algo) in algos.items():
        results[name] = runner.run(config, make_learner, algo, write=False)
        print(name, json.dumps(returns_row(results[name])), flush=True)

    RESULTS.mkdir(exist_ok=True)
    plot_curves(
        RESULTS / "sac_pendulum_curve.png",
        [result.env_steps for result in results.values()],
        [result.metrics["episode_return"][0] for result in results.values()],
        ["SAC", "DDPG", "TD3"],
        f"Pendulum-v1, defaults, {args.total_timesteps:,} steps "
        f"({args.num_seeds} seeds, 95% bands)",
    )
    record = {
        "command": f"python benchmarks/sac_pendulum.py --num-seeds {args.num_seeds} "
        f"--total-timesteps {args.total_timesteps}",
        "configs": {name: dataclasses.asdict(config) for name, (config, _, _) in algos.items()},
        "returns": {name: returns_row(result) for name, result in results.items()},
        "sac_final_alpha_per_seed": results["sac"].metrics["alpha"][0, :, -1].tolist(),
        **runner.environment_record(),
    }
    atomic_write_json(RESULTS / "sac_pendulum.json", record)


if __name__ == "__main__":
    split_cpu()  # one JAX device per core, before anything starts JAX
    main()
