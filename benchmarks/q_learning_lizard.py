"""Slippery lizard grid: how many steps tabular Q-learning needs for max |Q - Q*| < 0.05.

Issue 3 asks for the error bound on every shipped map for 95% of 100 seeds. The slow test meets
it on the other slippery maps at 1e5-5e5 steps; the lizard's +-10 rewards make its targets about
ten times noisier, so it is measured here at larger budgets instead. Settings are the slow test's:
uniform behaviour (epsilon 1; Q-learning is off-policy), alpha = 1 / n**alpha_decay per pair,
gamma 0.9. Results in benchmarks/results/q_learning_lizard.json.

    python benchmarks/q_learning_lizard.py [--budgets 1000000 5000000] [--alpha-decay 0.8]
"""

from __future__ import annotations

import common
import numpy as np

from purejaxrl import envs, runner
from purejaxrl.q_learning import QLearningConfig, make_learner
from purejaxrl.value_iteration import value_iteration

ENV_ID = "Gridworld-Lizard-Slippery-v0"


def main() -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--budgets", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--alpha-decay", type=float, default=0.8)
    parser.add_argument("--seeds", type=int, default=100)
    args = parser.parse_args()
    env, _ = envs.make(ENV_ID)
    mdp = env.mdp()
    rows = []
    for budget in args.budgets:
        config = QLearningConfig(
            env_id=ENV_ID, total_timesteps=budget, steps_per_update=budget // 10,
            num_seeds=args.seeds, alpha=1.0, alpha_decay=args.alpha_decay, gamma=0.9,
            epsilon_end=1.0, progress=False, compilation_cache="",
        )  # fmt: skip
        q_star = value_iteration(mdp, config.gamma).q
        result = runner.run(config, make_learner, "q_learning", write=False)
        q = np.asarray(result.exported["q"])
        errors = np.abs(q - q_star).max(axis=(1, 2))
        row = {
            "steps_per_seed": budget,
            "error_median": float(np.median(errors)),
            "error_p95": float(np.quantile(errors, 0.95)),
            "fraction_below_0.05": float(np.mean(errors < 0.05)),
            "run_time_s": result.summary["run_time_s"],
        }
        rows.append(row)
        common.report(row)
        write(args, rows, q_star)  # after every budget: a long run that is stopped keeps its rows


def write(args, rows: list[dict], q_star: np.ndarray) -> None:
    record = {
        "command": common.command(args),
        "env_id": ENV_ID,
        "q_star_abs_max": float(np.abs(q_star).max()),
        "rows": rows,
    }
    common.write_record("q_learning_lizard", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
