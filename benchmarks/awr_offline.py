"""Offline AWR against behaviour cloning on medium and medium-replay datasets of CartPole-v1 and
Pendulum-v1 made from our own runs, 8 seeds each; results in benchmarks/results/awr_offline.json
and awr_offline_curve.png.

1. One off-policy run per env, keeping a checkpoint after every update: DQN on CartPole-v1
   (1e5 steps, a replay buffer of all of them, epsilon annealed over 5e4), SAC on Pendulum-v1
   (1e4 steps, a buffer of all of them), one seed each.
2. The medium checkpoint: the first whose update's training episodes reached `--*-medium-return`
   (D4RL's medium policies play at about a third of the expert's level). Its datasets:
   `medium`, `--dataset-steps` transitions of that policy played with its exploration (DQN:
   epsilon-greedy, epsilon `--epsilon`; SAC: Gaussian noise of `--noise-std` half action ranges;
   D4RL's medium data are the part-trained policy's own stochastic actions, and neither row has
   a sampling policy); `medium-replay`, the run's replay buffer at that checkpoint (everything
   the agent saw while it learned up to there).
3. On each dataset, BC (`purejaxrl.bc`, its defaults) and offline AWR (`purejaxrl.awr_offline`,
   its defaults: the paper's lambda 0.95, beta `--beta`, clip 20), 8 seeds each, the same
   `--gradient-steps` (evaluated by 8 greedy episodes every 500). The target: AWR above BC on
   every dataset.

    python benchmarks/awr_offline.py [--num-seeds 8] [--gradient-steps 10000] [--beta 1.0]

The same by hand (the record lists the run folders and checkpoints):
    python -m purejaxrl dqn --total-timesteps 100000 --buffer-size 100000 \
        --epsilon-anneal-steps 50000 --chunk-updates 1 --checkpoint-every 1 --keep-checkpoints 100
    purejaxrl collect RUN_DIR --checkpoint U --mode epsilon --epsilon 0.3 --split medium --out ...
    purejaxrl collect RUN_DIR --checkpoint U --mode replay --split medium-replay --out ...
    python -m purejaxrl awr_offline --dataset DATASET --total-timesteps 10000 --num-seeds 8
    python -m purejaxrl bc --dataset DATASET --total-timesteps 10000 --num-seeds 8
"""

from __future__ import annotations

from pathlib import Path

import common
import numpy as np

from purejaxrl import awr_offline, bc, checkpoints, cli, datasets, dqn, runner, sac
from purejaxrl.collect import CollectArgs, make_dataset

ALGOS = {"bc": (bc.BCConfig, bc.make_learner), "awr_offline": (awr_offline.Config,
         awr_offline.make_learner)}  # fmt: skip
SPLITS = ("medium", "medium-replay")


def source_runs(args) -> dict:
    """Per env: (config, make_learner, algo, medium aim, medium collection's fields)."""
    keep = dict(chunk_updates=1, checkpoint_every=1, keep_checkpoints=100, progress=False,
                eval_episodes=0, runs_dir=args.runs_dir)  # fmt: skip
    return {
        "CartPole-v1": (
            dqn.DQNConfig(
                total_timesteps=100_000, buffer_size=100_000, epsilon_anneal_steps=50_000.0, **keep
            ),  # fmt: skip
            dqn.make_learner,
            "dqn",
            args.cartpole_medium_return,
            {"mode": "epsilon", "epsilon": args.epsilon},
        ),
        "Pendulum-v1": (
            sac.SACConfig(
                env_id="Pendulum-v1", total_timesteps=10_000, buffer_size=10_000, **keep
            ),  # fmt: skip
            sac.make_learner,
            "sac",
            args.pendulum_medium_return,
            {"mode": "noise", "noise_std": args.noise_std},
        ),
    }


def medium_checkpoint(result, aim: float) -> int:
    """The first kept checkpoint (updates done) whose update's training return reached `aim`,
    else the one of the best update."""
    returns = np.asarray(result.metrics["episode_return"][0, 0])  # (updates,)
    kept = checkpoints.all_steps(Path(result.run_dir))
    reached = [u for u in kept if returns[u - 1] >= aim]
    return reached[0] if reached else max(kept, key=lambda u: returns[u - 1])


def plot(path: Path, curves: dict, dataset_returns: dict, title: str) -> None:
    """One panel per dataset: each algorithm's evaluation return (mean over seeds, 95% band)
    against gradient steps, the dataset's own mean return dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from purejaxrl.stats import mean_and_band

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, (name, runs) in zip(axes.ravel(), curves.items(), strict=False):
        for (algo, (steps, returns)), colour in zip(runs.items(), ("C0", "C1"), strict=False):
            mean, low, high = mean_and_band(returns)
            ax.plot(steps, mean, color=colour, label=algo)
            ax.fill_between(steps, low, high, color=colour, alpha=0.2)
        ax.axhline(dataset_returns[name], color="grey", ls="--", lw=1, label="dataset's mean")
        ax.set(title=name, xlabel="gradient steps", ylabel="greedy evaluation return")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = common.argument_parser(
        __doc__, num_seeds=8, gradient_steps=10_000, beta=1.0, dataset_steps=100_000,
        cartpole_medium_return=150.0, pendulum_medium_return=-800.0, epsilon=0.3,
        noise_std=0.3, runs_dir="runs",
    )  # fmt: skip
    args = parser.parse_args()
    record = {"command": common.command(args), "datasets": {}, "returns": {}}
    folder = Path(args.runs_dir) / "datasets"
    curves, dataset_returns = {}, {}
    for env_id, (config, make_learner, algo, aim, mode) in source_runs(args).items():
        # 1-2. the source run and its two datasets
        result = runner.run(config, make_learner, algo)
        step = medium_checkpoint(result, aim)
        record[f"{algo}_{env_id}"] = {
            "run_dir": str(result.run_dir), "medium_checkpoint": step,
            "training_return_per_update": np.asarray(result.metrics["episode_return"][0, 0]).tolist(),
        }  # fmt: skip
        common.report(algo, env_id, {"medium_checkpoint": step})
        for split in SPLITS:
            name = f"{env_id} {split}"
            fields = mode if split == "medium" else {"mode": "replay"}
            collect_args = CollectArgs(str(result.run_dir), out=str(folder / f"{env_id}-{split}"),
                                       split=split, steps=args.dataset_steps, checkpoint=step,
                                       **fields)  # fmt: skip
            dataset = make_dataset(collect_args)
            datasets.save(collect_args.out, dataset)
            dataset_returns[name] = dataset.mean_return()
            record["datasets"][name] = {
                "path": collect_args.out, "checkpoint_update": step, **fields,
                "transitions": len(dataset), "episodes": int(dataset.episode_returns.size),
                "mean_return": dataset.mean_return(),
                "return_std": float(np.std(dataset.episode_returns)),
            }  # fmt: skip
            common.report(name, record["datasets"][name])

            # 3. BC and offline AWR on the same data, the same gradient steps
            curves[name] = {}
            for offline_algo, (config_cls, offline_learner) in ALGOS.items():
                extra = {"beta": args.beta} if offline_algo == "awr_offline" else {}
                offline_config = config_cls(
                    env_id=env_id, dataset=collect_args.out, total_timesteps=args.gradient_steps,
                    num_seeds=args.num_seeds, runs_dir=args.runs_dir, progress=False,
                    eval_episodes=0, **extra,
                )  # fmt: skip
                run = runner.run(offline_config, offline_learner, offline_algo)
                print(cli.format_table(run), flush=True)
                row = common.returns_row(run, run_dir=str(run.run_dir))
                record["returns"][f"{offline_algo} {name}"] = row
                curves[name][offline_algo] = (run.env_steps, run.metrics["episode_return"][0])
                common.report(offline_algo, name, {"final_return_mean": row["final_return_mean"]})
                common.write_record("awr_offline", record)
    plot(common.result_file("awr_offline_curve.png"), curves, dataset_returns,
         f"BC and offline AWR (beta {args.beta}), {args.num_seeds} seeds, 95% bands")  # fmt: skip
    common.write_record("awr_offline", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
