"""Behaviour cloning on CartPole-v1 datasets made from our own PPO run, 8 seeds each; results in
benchmarks/results/bc_cartpole.json and bc_cartpole_curve.png.

1. PPO at its defaults (5e5 steps, one seed), keeping a checkpoint about every 10 updates (at
   the chunk boundary after each 10: every 18 updates).
2. Datasets (`purejaxrl collect`, greedy policy, 16 envs): `expert` from the final checkpoint;
   `medium` from the kept checkpoint whose greedy return (measured on a short probe collection
   of 16 x 1000 steps) is nearest `--medium-return` (D4RL's medium policy plays at about a third
   of the expert's level; PPO's greedy return is not monotonic in training, so this need not be
   an early checkpoint); `--dataset-steps` transitions each.
3. BC at its defaults (20,000 gradient steps of 256 transitions, evaluated by 8 greedy episodes
   every 500), 8 seeds on each dataset. The targets: expert >= 475; medium about the dataset's
   own mean return (cloning cannot beat its data).

    python benchmarks/bc_cartpole.py [--num-seeds 8] [--dataset-steps 100000] [--medium-return 200]

The same by hand (the commands the record lists):
    python -m purejaxrl ppo --env-id CartPole-v1 --checkpoint-every 10 --keep-checkpoints 200
    purejaxrl collect RUN_DIR --out runs/datasets/cartpole-expert --split expert --steps 100000
    purejaxrl collect RUN_DIR --checkpoint U --out runs/datasets/cartpole-medium --split medium ...
    python -m purejaxrl bc --dataset runs/datasets/cartpole-expert --num-seeds 8
"""

from __future__ import annotations

from pathlib import Path

import common
import numpy as np

from purejaxrl import bc, checkpoints, cli, datasets, ppo, runner
from purejaxrl.collect import CollectArgs, make_dataset


def plot(path: Path, curves: dict, dataset_returns: dict) -> None:
    """BC's evaluation return (mean over seeds, 95% band) per dataset against gradient steps, the
    dataset's own mean return as a dashed line of the same colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from purejaxrl.stats import mean_and_band

    fig, ax = plt.subplots(figsize=(7, 4))
    for (name, (steps, returns)), colour in zip(curves.items(), ("C0", "C1"), strict=False):
        mean, low, high = mean_and_band(returns)
        ax.plot(steps, mean, color=colour, label=f"BC on {name}")
        ax.fill_between(steps, low, high, color=colour, alpha=0.2)
        ax.axhline(dataset_returns[name], color=colour, ls="--", lw=1,
                   label=f"{name} dataset's mean return")  # fmt: skip
    ax.set(xlabel="gradient steps", ylabel="greedy evaluation return",
           title="Behaviour cloning, CartPole-v1, 8 seeds")  # fmt: skip
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = common.argument_parser(
        __doc__, num_seeds=8, dataset_steps=100_000, medium_return=200.0, runs_dir="runs"
    )
    args = parser.parse_args()
    record = {"command": common.command(args)}
    runs_dir = Path(args.runs_dir)

    # 1. the expert's run, keeping part-way checkpoints for the medium dataset
    config = ppo.PPOConfig(env_id="CartPole-v1", checkpoint_every=10, keep_checkpoints=200,
                           runs_dir=str(runs_dir), progress=False)  # fmt: skip
    result = runner.run(config, ppo.make_learner, "ppo")
    print(cli.format_table(result), flush=True)
    run_dir = str(result.run_dir)
    record["ppo"] = common.returns_row(
        result, run_dir=run_dir, greedy=result.summary.get("greedy_evaluation")
    )

    # 2. the datasets: the medium checkpoint is the one whose greedy return is nearest the aim
    kept = checkpoints.all_steps(Path(run_dir))
    probes = {}
    for step in kept[:-1]:
        probe = make_dataset(CollectArgs(run_dir, out="-", steps=16 * 1000, checkpoint=step))
        probes[step] = probe.mean_return()
        common.report("checkpoint", step, {"greedy_probe_return": probes[step]})
    medium_step = min(probes, key=lambda s: abs(probes[s] - args.medium_return))
    record["checkpoint_probe_returns"] = probes
    folder = runs_dir / "datasets"
    made = {}
    for split, step in (("expert", kept[-1]), ("medium", medium_step)):
        collect_args = CollectArgs(run_dir, out=str(folder / f"cartpole-{split}"), split=split,
                                   steps=args.dataset_steps, checkpoint=step)  # fmt: skip
        dataset = make_dataset(collect_args)
        datasets.save(collect_args.out, dataset)
        made[split] = collect_args.out
        record[f"{split}_dataset"] = {
            "path": collect_args.out, "checkpoint_update": step, "transitions": len(dataset),
            "episodes": int(dataset.episode_returns.size), "mean_return": dataset.mean_return(),
            "return_std": float(np.std(dataset.episode_returns)),
        }  # fmt: skip
        common.report(split, record[f"{split}_dataset"])

    # 3. behaviour cloning, 8 seeds per dataset, BC's defaults
    curves, dataset_returns = {}, {}
    for split, path in made.items():
        config = bc.BCConfig(dataset=path, num_seeds=args.num_seeds, runs_dir=str(runs_dir),
                             progress=False)  # fmt: skip
        result = runner.run(config, bc.make_learner, "bc")
        print(cli.format_table(result), flush=True)
        record[f"bc_{split}"] = common.returns_row(
            result, run_dir=str(result.run_dir), greedy=result.summary.get("greedy_evaluation")
        )
        curves[split] = (result.env_steps, result.metrics["episode_return"][0])
        dataset_returns[split] = record[f"{split}_dataset"]["mean_return"]
        common.report(f"bc_{split}", record[f"bc_{split}"]["final_return_mean"])
        common.write_record("bc_cartpole", record)
    plot(common.result_file("bc_cartpole_curve.png"), curves, dataset_returns)
    common.write_record("bc_cartpole", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
