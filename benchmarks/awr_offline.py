"""Offline AWR against behaviour cloning on medium and medium-replay datasets of CartPole-v1 and
Pendulum-v1 made from our own runs, 8 seeds each; results in benchmarks/results/awr_offline.json
and awr_offline_curve.png (`--out`: other names).

1. The source runs, one seed each, keeping a checkpoint after every update: on CartPole-v1 PPO
   (5e4 steps; its policy samples actions) and DQN (1e5 steps, a replay buffer of all of them,
   epsilon annealed over 5e4), on Pendulum-v1 SAC (1e4 steps, a buffer of all of them).
2. A run's medium checkpoint: the first whose update's training episodes reached
   `--*-medium-return` (D4RL's medium policies play at about a third of the expert's level).
   `medium`: `--dataset-steps` transitions of that policy played as D4RL's medium data are, with
   its own stochastic actions: PPO sampling its policy on CartPole (`--cartpole-medium-source
   dqn`: DQN epsilon-greedy, epsilon `--epsilon`, instead), SAC's mean plus Gaussian noise of
   `--noise-std` half action ranges on Pendulum (our SAC's checkpoints keep no sampling policy).
   `medium-replay`: the off-policy run's replay buffer at its checkpoint (everything the agent
   saw while it learned up to there): DQN's on CartPole, SAC's on Pendulum.
3. On each dataset, BC (`purejaxrl.bc`, its defaults) and offline AWR (`purejaxrl.awr_offline`,
   its defaults: the paper's lambda 0.95, clip 20; beta `--cartpole-beta`, `--pendulum-beta`),
   8 seeds each, the same `--gradient-steps` (evaluated by 8 greedy episodes every 500). The
   target: AWR above BC on every dataset.

    python benchmarks/awr_offline.py [--num-seeds 8] [--gradient-steps 10000] \
        [--cartpole-beta 0.3] [--pendulum-beta 1.0] [--cartpole-medium-source ppo] \
        [--out awr_offline]

The same by hand (the record lists the run folders and checkpoints):
    python -m purejaxrl ppo --total-timesteps 50000 --chunk-updates 1 --checkpoint-every 1 \
        --keep-checkpoints 100
    python -m purejaxrl dqn --total-timesteps 100000 --buffer-size 100000 \
        --epsilon-anneal-steps 50000 --chunk-updates 1 --checkpoint-every 1 --keep-checkpoints 100
    purejaxrl collect PPO_RUN_DIR --checkpoint U --mode stochastic --split medium --out ...
    purejaxrl collect DQN_RUN_DIR --checkpoint U --mode replay --split medium-replay --out ...
    python -m purejaxrl awr_offline --dataset DATASET --total-timesteps 10000 --num-seeds 8 \
        --beta 0.3
    python -m purejaxrl bc --dataset DATASET --total-timesteps 10000 --num-seeds 8
"""

from __future__ import annotations

from pathlib import Path

import common
import numpy as np

from purejaxrl import awr_offline, bc, checkpoints, cli, datasets, dqn, ppo, runner, sac
from purejaxrl.collect import CollectArgs, make_dataset

ALGOS = {"bc": (bc.BCConfig, bc.make_learner), "awr_offline": (awr_offline.Config,
         awr_offline.make_learner)}  # fmt: skip


def source_runs(args) -> dict:
    """Per source run, by its algorithm: (config, make_learner, medium aim)."""
    keep = dict(chunk_updates=1, checkpoint_every=1, keep_checkpoints=100, progress=False,
                eval_episodes=0, runs_dir=args.runs_dir)  # fmt: skip
    cartpole, pendulum = args.cartpole_medium_return, args.pendulum_medium_return
    return {
        "dqn": (dqn.DQNConfig(total_timesteps=100_000, buffer_size=100_000,
                              epsilon_anneal_steps=50_000.0, **keep), dqn.make_learner, cartpole),
        "ppo": (ppo.PPOConfig(env_id="CartPole-v1", total_timesteps=50_000, **keep),
                ppo.make_learner, cartpole),
        "sac": (sac.SACConfig(env_id="Pendulum-v1", total_timesteps=10_000, buffer_size=10_000,
                              **keep), sac.make_learner, pendulum),
    }  # fmt: skip


def dataset_sources(args) -> dict:
    """Per dataset (env and split): the source run that makes it and the collection's fields.
    medium-replay is an off-policy run's replay buffer, so CartPole's is DQN's whatever
    `--cartpole-medium-source` says."""
    dqn_medium = {"mode": "epsilon", "epsilon": args.epsilon}
    return {
        "CartPole-v1 medium": (args.cartpole_medium_source, {"mode": "stochastic"}
                               if args.cartpole_medium_source == "ppo" else dqn_medium),
        "CartPole-v1 medium-replay": ("dqn", {"mode": "replay"}),
        "Pendulum-v1 medium": ("sac", {"mode": "noise", "noise_std": args.noise_std}),
        "Pendulum-v1 medium-replay": ("sac", {"mode": "replay"}),
    }  # fmt: skip


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

    rows = (len(curves) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(10, 3.5 * rows), squeeze=False)
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
        __doc__, num_seeds=8, gradient_steps=10_000, pendulum_beta=1.0, cartpole_beta=0.3,
        dataset_steps=100_000,
        cartpole_medium_return=150.0, pendulum_medium_return=-800.0, epsilon=0.3,
        noise_std=0.3, runs_dir="runs",
    )  # fmt: skip
    parser.add_argument("--cartpole-medium-source", choices=("ppo", "dqn"), default="ppo",
                        help="the run whose policy plays CartPole's medium data: PPO sampling "
                        "its policy, or DQN epsilon-greedy (--epsilon)")  # fmt: skip
    parser.add_argument("--out", default="awr_offline",
                        help="the record: results/<out>.json and <out>_curve.png")  # fmt: skip
    args = parser.parse_args()
    record = {"command": common.command(args), "datasets": {}, "returns": {}}
    folder = Path(args.runs_dir) / "datasets"
    curves, dataset_returns, sources, medium_steps = {}, {}, source_runs(args), {}
    for name, (source, fields) in dataset_sources(args).items():
        env_id, split = name.split()
        # 1. the source run (once) and its medium checkpoint
        if source not in medium_steps:
            config, make_learner, aim = sources[source]
            result = runner.run(config, make_learner, source)
            medium_steps[source] = (result.run_dir, medium_checkpoint(result, aim))
            returns = np.asarray(result.metrics["episode_return"][0, 0]).tolist()
            record[f"{source}_{env_id}"] = {
                "run_dir": str(result.run_dir), "medium_checkpoint": medium_steps[source][1],
                "training_return_per_update": returns,
            }  # fmt: skip
            common.report(source, env_id, {"medium_checkpoint": medium_steps[source][1]})
        # 2. the dataset
        run_dir, step = medium_steps[source]
        collect_args = CollectArgs(str(run_dir), out=str(folder / f"{env_id}-{split}"),
                                   split=split, steps=args.dataset_steps, checkpoint=step,
                                   **fields)  # fmt: skip
        dataset = make_dataset(collect_args)
        datasets.save(collect_args.out, dataset)
        dataset_returns[name] = dataset.mean_return()
        record["datasets"][name] = {
            "path": collect_args.out, "source": source, "checkpoint_update": step, **fields,
            "transitions": len(dataset), "episodes": int(dataset.episode_returns.size),
            "mean_return": dataset.mean_return(),
            "return_std": float(np.std(dataset.episode_returns)),
        }  # fmt: skip
        common.report(name, record["datasets"][name])

        # 3. BC and offline AWR on the same data, the same gradient steps
        curves[name] = {}
        for offline_algo, (config_cls, offline_learner) in ALGOS.items():
            beta = args.cartpole_beta if env_id == "CartPole-v1" else args.pendulum_beta
            extra = {"beta": beta} if offline_algo == "awr_offline" else {}
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
            common.write_record(args.out, record)
    plot(common.result_file(f"{args.out}_curve.png"), curves, dataset_returns,
         f"BC and offline AWR (beta {args.cartpole_beta} on CartPole, {args.pendulum_beta} on "
         f"Pendulum), {args.num_seeds} seeds, 95% bands")  # fmt: skip
    common.write_record(args.out, record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
