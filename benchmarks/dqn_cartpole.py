"""DQN speed on CartPole-v1 at the default (PureJaxRL) settings; results in benchmarks/results/.

Measures, each `--repeats` times (medians reported): compile time and run time for 1 and 8 seeds
(no progress bar; the persistent compilation cache off, so compile times are real compilations),
and the raw env-step ceiling: the same number of envs stepped with random actions in a jitted
scan, no learning. Also one 8-seed Double DQN run at the same settings, for its return.

    python benchmarks/dqn_cartpole.py [--repeats 3] [--total-timesteps 500000]
"""

from __future__ import annotations

import dataclasses

import common

from purejaxrl.dqn import DQNConfig, make_learner


def main() -> None:
    args = common.argument_parser(__doc__, repeats=3, total_timesteps=500_000).parse_args()

    base = DQNConfig(total_timesteps=args.total_timesteps, progress=False, compilation_cache="")
    rows = []
    for seeds in (1, 8):
        config = dataclasses.replace(base, num_seeds=seeds)
        rows.append(common.timed_runs(config, make_learner, "dqn", args.repeats))
        common.report(rows[-1])
    config = dataclasses.replace(base, num_seeds=8, double=True)
    double = common.timed_runs(config, make_learner, "dqn", 1)
    common.report(double)
    steps_per_env = base.total_timesteps // base.num_envs
    ceilings = [
        common.env_ceiling("CartPole-v1", base.num_envs * seeds, steps_per_env, args.repeats)
        for seeds in (1, 8)
    ]
    record = {
        "command": common.command(args),
        "config": dataclasses.asdict(base),
        "dqn": rows,
        "double_dqn_8_seeds": double,
        "env_ceiling": ceilings,
    }
    common.write_record("dqn_cartpole", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
