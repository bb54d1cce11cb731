"""PPO speed on CartPole-v1 at the default (PureJaxRL) settings; results in benchmarks/results/.

Measures, each `--repeats` times (medians reported): compile time and run time for 1 and 8 seeds,
with and without the progress bar, and the raw env-step ceiling (the same number of envs stepped
with random actions in a jitted scan, no learning). Compile times are taken with the persistent
compilation cache off, so they are real compilations.

    python benchmarks/ppo_cartpole.py [--repeats 3] [--total-timesteps 500000]
"""

from __future__ import annotations

import dataclasses

import common
import jax.numpy as jnp

from purejaxrl.ppo import PPOConfig, make_learner


def env_ceiling(num_envs: int, steps_per_env: int, repeats: int) -> dict:
    """Env steps/s of `num_envs` CartPole envs with random actions in one jitted scan."""
    rate = common.env_steps_per_second("CartPole-v1", num_envs, steps_per_env, repeats)
    return {
        "num_envs": num_envs,
        "run_time_s": num_envs * steps_per_env / rate,
        "steps_per_second": rate,
    }


def main() -> None:
    args = common.argument_parser(__doc__, repeats=3, total_timesteps=500_000).parse_args()

    base = PPOConfig(total_timesteps=args.total_timesteps, compilation_cache="")
    rows = []
    for seeds in (1, 8):
        for progress in (False, True):
            config = dataclasses.replace(base, num_seeds=seeds, progress=progress)
            rows.append(common.timed_runs(config, make_learner, "ppo", args.repeats))
            common.report(rows[-1])
    steps_per_env = base.num_updates * base.num_steps
    ceilings = [env_ceiling(base.num_envs * s, steps_per_env, args.repeats) for s in (1, 8)]
    for row in ceilings:
        common.report(row)
    record = {
        "command": common.command(args),
        "config": dataclasses.asdict(base),
        "ppo": rows,
        "env_ceiling": ceilings,
        "jnp_default_dtype": str(jnp.zeros(()).dtype),
    }
    common.write_record("ppo_cartpole", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
