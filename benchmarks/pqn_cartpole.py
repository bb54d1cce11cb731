"""PQN against DQN on CartPole-v1 at their default settings, 8 seeds, same machine; results in
benchmarks/results/pqn_cartpole.json.

The runs alternate (PQN, DQN, DQN, PQN, ... for `--rounds` rounds) so that a drift in the
machine's speed touches both alike. Each is one 8-seed run through the shared runner, no progress
bar, the persistent compilation cache off (real compile times). Medians are reported, with the
final return mean of each run and the PQN / DQN run-time ratio.

    python benchmarks/pqn_cartpole.py [--rounds 1] [--num-seeds 8] [--total-timesteps 500000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

from purejaxrl import dqn, pqn, runner
from purejaxrl.devices import split_cpu
from purejaxrl.outputs import atomic_write_json

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="each round is PQN, DQN, DQN, PQN")
    parser.add_argument("--num-seeds", type=int, default=8)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    args = parser.parse_args()

    common = dict(
        total_timesteps=args.total_timesteps,
        num_seeds=args.num_seeds,
        progress=False,
        compilation_cache="",
    )
    algos = {
        "pqn": (pqn.PQNConfig(**common), pqn.make_learner),
        "dqn": (dqn.DQNConfig(**common), dqn.make_learner),
    }
    runs: dict[str, list[dict]] = {name: [] for name in algos}
    for _ in range(args.rounds):
        for name in ("pqn", "dqn", "dqn", "pqn"):
            config, make_learner = algos[name]
            s = runner.run(config, make_learner, name, write=False).summary
            row = {
                "compile_time_s": s["compile_time_s"],
                "run_time_s": s["run_time_s"],
                "final_return_mean": s["results"][0]["final_return_mean"],
            }
            runs[name].append(row)
            print(json.dumps({"algo": name, **row}), flush=True)

    def medians(rows):
        return {
            key: statistics.median(r[key] for r in rows)
            for key in ("compile_time_s", "run_time_s", "final_return_mean")
        }

    summary = {name: medians(rows) for name, rows in runs.items()}
    ratio = summary["pqn"]["run_time_s"] / summary["dqn"]["run_time_s"]
    print(json.dumps({"medians": summary, "pqn_over_dqn_run_time": ratio}), flush=True)
    record = {
        "command": f"python benchmarks/pqn_cartpole.py --rounds {args.rounds} "
        f"--num-seeds {args.num_seeds} --total-timesteps {args.total_timesteps}",
        "configs": {name: dataclasses.asdict(config) for name, (config, _) in algos.items()},
        "runs": runs,
        "medians": summary,
        "pqn_over_dqn_run_time": ratio,
        **runner.environment_record(),
    }
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "pqn_cartpole.json", record)


if __name__ == "__main__":
    split_cpu()  # one JAX device per core, before anything starts JAX
    main()
