"""Tabular Q-learning throughput over 1, 1000 and 100000 seeds vs the raw gridworld step ceiling.

Results in benchmarks/results/q_learning_seeds.json. Each figure is the median of `--repeats` runs
of one compiled call (compilation timed apart). The ceiling steps the same number of gridworlds
with random actions in a jitted scan, no learning.

    python benchmarks/q_learning_seeds.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ceiling import env_steps_per_second
from timing import timed_runs

from purejaxrl import runner
from purejaxrl.devices import split_cpu
from purejaxrl.outputs import atomic_write_json
from purejaxrl.q_learning import QLearningConfig, make_learner

RESULTS = Path(__file__).parent / "results"
ENV_ID = "Gridworld-Maze-v0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for seeds, steps in [(1, 1_000_000), (1000, 20_000), (100_000, 1_000)]:
        config = QLearningConfig(
            env_id=ENV_ID, num_seeds=seeds, total_timesteps=steps, steps_per_update=steps // 10,
            progress=False, compilation_cache="",
        )  # fmt: skip
        row = {
            **timed_runs(config, make_learner, "q_learning", args.repeats),
            "steps_per_seed": steps,
            "ceiling_steps_per_second": env_steps_per_second(ENV_ID, seeds, steps, args.repeats),
        }
        row["fraction_of_ceiling"] = row["steps_per_second"] / row["ceiling_steps_per_second"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    record = {
        "command": f"python benchmarks/q_learning_seeds.py --repeats {args.repeats}",
        "env_id": ENV_ID,
        "rows": rows,
        **runner.environment_record(),
    }
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "q_learning_seeds.json", record)


if __name__ == "__main__":
    split_cpu()  # one JAX device per core, before anything starts JAX
    main()
