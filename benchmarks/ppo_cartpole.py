"""PPO speed on CartPole-v1 at the default (PureJaxRL) settings; results in benchmarks/results/.

Measures, each `--repeats` times (medians reported): compile time and run time for 1 and 8 seeds,
with and without the progress bar, and the raw env-step ceiling (the same number of envs stepped
with random actions in a jitted scan, no learning). Compile times are taken with the persistent
compilation cache off, so they are real compilations.

    python benchmarks/ppo_cartpole.py [--repeats 3] [--total-timesteps 500000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import jax.numpy as jnp
from ceiling import env_steps_per_second
from timing import timed_runs

from purejaxrl import runner
from purejaxrl.devices import split_cpu
from purejaxrl.outputs import atomic_write_json
from purejaxrl.ppo import PPOConfig, make_learner

RESULTS = Path(__file__).parent / "results"


def env_ceiling(num_envs: int, steps_per_env: int, repeats: int) -> dict:
    """Env steps/s of `num_envs` CartPole envs with random actions in one jitted scan."""
    rate = env_steps_per_second("CartPole-v1", num_envs, steps_per_env, repeats)
    return {
        "num_envs": num_envs,
        "run_time_s": num_envs * steps_per_env / rate,
        "steps_per_second": rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    args = parser.parse_args()

    base = PPOConfig(total_timesteps=args.total_timesteps, compilation_cache="")
    rows = []
    for seeds in (1, 8):
        for progress in (False, True):
            config = dataclasses.replace(base, num_seeds=seeds, progress=progress)
            rows.append(timed_runs(config, make_learner, "ppo", args.repeats))
            print(json.dumps(rows[-1]), flush=True)
    steps_per_env = base.num_updates * base.num_steps
    ceilings = [env_ceiling(base.num_envs * s, steps_per_env, args.repeats) for s in (1, 8)]
    for row in ceilings:
        print(json.dumps(row), flush=True)
    record = {
        "command": f"python benchmarks/ppo_cartpole.py --repeats {args.repeats} "
        f"--total-timesteps {args.total_timesteps}",
        "config": dataclasses.asdict(base),
        "ppo": rows,
        "env_ceiling": ceilings,
        **runner.environment_record(),
        "jnp_default_dtype": str(jnp.zeros(()).dtype),
    }
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "ppo_cartpole.json", record)


if __name__ == "__main__":
    split_cpu()  # one JAX device per core, before anything starts JAX
    main()
