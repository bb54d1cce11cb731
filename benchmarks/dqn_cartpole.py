"""DQN speed on CartPole-v1 at the default (PureJaxRL) settings; results in benchmarks/results/.

Measures, each `--repeats` times (medians reported): compile time and run time for 1 and 8 seeds
(no progress bar; the persistent compilation cache off, so compile times are real compilations),
and the raw env-step ceiling: the same number of envs stepped with random actions in a jitted
scan, no learning. Also one 8-seed Double DQN run at the same settings, for its return.

    python benchmarks/dqn_cartpole.py [--repeats 3] [--total-timesteps 500000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ceiling import env_steps_per_second
from timing import timed_runs

from purejaxrl import runner
from purejaxrl.devices import split_cpu
from purejaxrl.dqn import DQNConfig, make_learner
from purejaxrl.outputs import atomic_write_json

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    args = parser.parse_args()

    base = DQNConfig(total_timesteps=args.total_timesteps, progress=False, compilation_cache="")
    rows = []
    for seeds in (1, 8):
        rows.append(timed_runs(dataclasses.replace(base, num_seeds=seeds), make_learner, "dqn",
                               args.repeats))  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    double = timed_runs(dataclasses.replace(base, num_seeds=8, double=True), make_learner, "dqn", 1)
    print(json.dumps(double), flush=True)
    steps_per_env = base.total_timesteps // base.num_envs
    ceilings = []
    for seeds in (1, 8):
        num_envs = base.num_envs * seeds
        rate = env_steps_per_second("CartPole-v1", num_envs, steps_per_env, args.repeats)
        ceilings.append({"num_envs": num_envs, "steps_per_second": rate})
        print(json.dumps(ceilings[-1]), flush=True)
    record = {
        "command": f"python benchmarks/dqn_cartpole.py --repeats {args.repeats} "
        f"--total-timesteps {args.total_timesteps}",
        "config": dataclasses.asdict(base),
        "dqn": rows,
        "double_dqn_8_seeds": double,
        "env_ceiling": ceilings,
        **runner.environment_record(),
    }
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "dqn_cartpole.json", record)


if __name__ == "__main__":
    split_cpu()  # one JAX device per core, before anything starts JAX
    main()
