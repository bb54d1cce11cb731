"""Tabular Q-learning throughput over 1, 1000 and 100000 seeds vs the raw gridworld step ceiling.

Results in benchmarks/results/q_learning_seeds.json. Each figure is the median of `--repeats` runs
of one compiled call (compilation timed apart). The ceiling steps the same number of gridworlds
with random actions in a jitted scan, no learning.

    python benchmarks/q_learning_seeds.py [--repeats 3]
"""

from __future__ import annotations

import common

from purejaxrl.q_learning import QLearningConfig, make_learner

ENV_ID = "Gridworld-Maze-v0"


def main() -> None:
    args = common.argument_parser(__doc__, repeats=3).parse_args()
    rows = []
    for seeds, steps in [(1, 1_000_000), (1000, 20_000), (100_000, 1_000)]:
        config = QLearningConfig(
            env_id=ENV_ID, num_seeds=seeds, total_timesteps=steps, steps_per_update=steps // 10,
            progress=False, compilation_cache="",
        )  # fmt: skip
        row = {
            **common.timed_runs(config, make_learner, "q_learning", args.repeats),
            "steps_per_seed": steps,
            "ceiling_steps_per_second": common.env_steps_per_second(
                ENV_ID, seeds, steps, args.repeats
            ),
        }
        row["fraction_of_ceiling"] = row["steps_per_second"] / row["ceiling_steps_per_second"]
        rows.append(row)
        common.report(row)
    record = {
        "command": common.command(args),
        "env_id": ENV_ID,
        "rows": rows,
    }
    common.write_record("q_learning_seeds", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
