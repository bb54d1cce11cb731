"""Every online algorithm at its defaults on environments nobody tuned them on; results in
benchmarks/results/<out>.json.

Each cell is one algorithm on one environment, `--num-seeds` seeds at the env's budget (`BUDGETS`),
every setting at the algorithm's defaults, through the shared runner (nothing written but the
record), with the CPU split into one device per core as `python -m purejaxrl` splits it (the
seeds' numbers depend on how many share a device). An algorithm that refuses an env (a
discrete-only one on continuous actions, ...) gets its one-line refusal in the cell instead of a
figure. Beside each env: the best published figure
found for it (`REFERENCES`), with its source. Cells are added to the record as they finish, so a
stopped run keeps them; rerunning a cell replaces it, each cell keeping the command and commit
that made it.

    python benchmarks/defaults.py [--envs CartPole-v1 Acrobot-v1 MountainCar-v0] \\
        [--algos ppo a2c reinforce dqn pqn] [--num-seeds 8] [--out defaults]
"""

from __future__ import annotations

import json

import common

BUDGETS = {
    "CartPole-v1": 500_000,
    "Acrobot-v1": 500_000,
    "MountainCar-v0": 500_000,
    "Pendulum-v1": 100_000,
    "MountainCarContinuous-v0": 200_000,
    "Breakout-MinAtar": 1_000_000,
    "SpaceInvaders-MinAtar": 1_000_000,
}
"""Env steps per seed, the same for every algorithm on an env."""

GYMNAX_README = (
    "gymnax 1.0.1 README, its table of gymnax-blines checkpoints (PPO or ES; budgets in "
    "gymnax-blines agents/<env>/*.yaml)"
)
REFERENCES = {
    "CartPole-v1": (500, GYMNAX_README),
    "Acrobot-v1": (-80, GYMNAX_README),
    "MountainCar-v0": (-118, GYMNAX_README),
    "Pendulum-v1": (-130, GYMNAX_README),
    "MountainCarContinuous-v0": (92, GYMNAX_README),
    "Breakout-MinAtar": (28, GYMNAX_README),
    "SpaceInvaders-MinAtar": (131, GYMNAX_README),
}
"""Env -> (return, source): the published figure set beside our cells."""

ONLINE = ("ppo", "a2c", "reinforce", "dqn", "pqn", "sac", "ddpg", "td3")
"""The online algorithms of the registry (offline, planning and tabular ones have other tasks),
and TD3, which is DDPG's `td3` option (`VARIANTS`)."""

VARIANTS = {"td3": ("ddpg", {"td3": True})}
"""A column that is a registry algorithm with some fields set: name -> (algorithm, fields)."""


def run_cell(algo: str, env_id: str, num_seeds: int) -> dict:
    """One cell: the runner's final returns and greedy evaluation, or the refusal."""
    from purejaxrl import registry, runner
    from purejaxrl.checks import ConfigError

    name, fields = VARIANTS.get(algo, (algo, {}))
    row = registry.get(name)
    try:
        config = row.config_cls(
            env_id=env_id, total_timesteps=BUDGETS[env_id], num_seeds=num_seeds,
            progress=False, compilation_cache="", **fields,
        )  # fmt: skip
        result = runner.run(config, row.make_learner, name, write=False)
    except ConfigError as error:  # the config's refusal of this env, one line
        return {"refused": str(error).splitlines()[0]}
    greedy = result.summary.get("greedy_evaluation", {}).get("results", [{}])[0]
    return common.returns_row(
        result,
        greedy_return_mean=greedy.get("greedy_return_mean"),
        env_steps=BUDGETS[env_id],
        num_seeds=num_seeds,
    )


def main() -> None:
    parser = common.argument_parser(__doc__, num_seeds=8)
    parser.add_argument("--envs", nargs="+", default=list(BUDGETS)[:5], choices=list(BUDGETS))
    parser.add_argument("--algos", nargs="+", default=list(ONLINE), choices=list(ONLINE))
    parser.add_argument("--out", default="defaults", help="results/<out>.json")
    args = parser.parse_args()
    path = common.result_file(f"{args.out}.json")
    record = json.loads(path.read_text()) if path.exists() else {"cells": {}}
    record["budgets"], record["references"] = BUDGETS, REFERENCES
    for env_id in args.envs:
        for algo in args.algos:
            cell = run_cell(algo, env_id, args.num_seeds)
            cell = {"command": common.command(args), "code": common.code_record(), **cell}
            record["cells"].setdefault(env_id, {})[algo] = cell
            common.report(env_id, algo, {k: v for k, v in cell.items() if "per_seed" not in k})
            common.write_record(args.out, record)
    print(markdown(record))


def markdown(record: dict) -> str:
    """The table: one row per env, one column per algorithm, the reference last."""
    algos = [a for a in ONLINE if any(a in cells for cells in record["cells"].values())]
    lines = [
        "| env (steps) | " + " | ".join(algos) + " | published |",
        "|---|" + "---|" * (len(algos) + 1),
    ]
    for env_id, cells in record["cells"].items():
        row = []
        for algo in algos:
            cell = cells.get(algo)
            if cell is None:
                row.append("")
            elif "refused" in cell:
                row.append("n/a")
            else:
                low, high = cell["final_return_ci95"]
                row.append(f"{cell['final_return_mean']:.1f} [{low:.1f}, {high:.1f}]")
        value, _ = record["references"][env_id]
        steps = f"{record['budgets'][env_id]:.0e}".replace("e+0", "e")
        lines.append(f"| {env_id} ({steps}) | " + " | ".join(row) + f" | {value} |")
    return "\n".join(lines)


if __name__ == "__main__":
    common.run_on_all_cores(main)  # as `python -m purejaxrl` runs: the seeds' numbers depend on it
