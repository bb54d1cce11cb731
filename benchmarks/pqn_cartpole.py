"""PQN against DQN on CartPole-v1 at their default settings, 8 seeds, same machine; results in
benchmarks/results/pqn_cartpole.json.

The runs alternate (PQN, DQN, DQN, PQN, ... for `--rounds` rounds) so that a drift in the
machine's speed touches both alike. Each is one 8-seed run through the shared runner, no progress
bar, the persistent compilation cache off (real compile times). Medians are reported, with the
final return mean of each run and the PQN / DQN run-time ratio.

    python benchmarks/pqn_cartpole.py [--rounds 1] [--num-seeds 8] [--total-timesteps 500000]
"""

from __future__ import annotations

import dataclasses
import statistics

import common

from purejaxrl import dqn, pqn, runner


def main() -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=1, help="each round is PQN, DQN, DQN, PQN")
    parser.add_argument("--num-seeds", type=int, default=8)
    parser.add_argument("--total-timesteps", type=int, default=500_000)
    args = parser.parse_args()

    shared = common.run_settings(args)
    algos = {
        "pqn": (pqn.PQNConfig(**shared), pqn.make_learner),
        "dqn": (dqn.DQNConfig(**shared), dqn.make_learner),
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
            common.report({"algo": name, **row})

    def medians(rows):
        return {
            key: statistics.median(r[key] for r in rows)
            for key in ("compile_time_s", "run_time_s", "final_return_mean")
        }

    summary = {name: medians(rows) for name, rows in runs.items()}
    ratio = summary["pqn"]["run_time_s"] / summary["dqn"]["run_time_s"]
    common.report({"medians": summary, "pqn_over_dqn_run_time": ratio})
    record = {
        "command": common.command(args),
        "configs": {name: dataclasses.asdict(config) for name, (config, _) in algos.items()},
        "runs": runs,
        "medians": summary,
        "pqn_over_dqn_run_time": ratio,
    }
    common.write_record("pqn_cartpole", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
