"""GAIL on CartPole-v1 and Pendulum-v1 from expert episodes of our own PPO, 8 seeds each; results in
benchmarks/results/gail.json and gail_curve.png.

Per env:
1. PPO on the env's reward, 8 seeds (CartPole-v1: PPO's defaults, 5e5 steps; Pendulum-v1:
   benchmarks/ppo_pendulum.py's settings, 1e6 steps): the baseline on the true reward at GAIL's
   budget, and the expert, its seed of highest final return.
2. The expert's dataset (`purejaxrl collect`, greedy policy, 16 envs x 2000 steps).
3. For each N of --expert-episodes (10 and 50), GAIL with 8 seeds on the first N complete
   episodes of it (`GAILConfig.expert_episodes`), with PPO's settings of step 1 and the
   discriminator's defaults (64x64 tanh, Adam 3e-4, 4 minibatches per rollout, reward
   -log(1 - D)).
The targets (from 10 episodes on CartPole): CartPole-v1 >= 450, Pendulum-v1 >= -250 (mean final
return over seeds).

    python benchmarks/gail.py [--num-seeds 8] [--expert-episodes 10 50] [--envs CartPole-v1]

The same by hand, for CartPole:
    python -m purejaxrl ppo --env-id CartPole-v1 --num-seeds 8
    purejaxrl collect RUN_DIR --run R --out runs/datasets/cartpole-gail-expert --split expert \
        --steps 32000
    python -m purejaxrl gail --dataset runs/datasets/cartpole-gail-expert --expert-episodes 10 \
        --num-seeds 8
"""

from __future__ import annotations

from pathlib import Path

import common
import numpy as np

from purejaxrl import cli, datasets, gail, ppo, runner
from purejaxrl.collect import CollectArgs, make_dataset

PPO_SETTINGS = {
    "CartPole-v1": {},  # PPO's defaults
    "Pendulum-v1": {  # benchmarks/ppo_pendulum.py
        "total_timesteps": 1_000_000, "num_envs": 16, "num_steps": 256, "update_epochs": 10,
        "num_minibatches": 32, "lr": 1e-3, "gamma": 0.95, "ent_coef": 0.0,
    },
}  # fmt: skip
TARGETS = {"CartPole-v1": 450.0, "Pendulum-v1": -250.0}


def plot(path: Path, curves: dict, expert_returns: dict) -> None:
    """Per env, GAIL's and PPO's return (mean over seeds, 95% band) against env steps, the expert
    data's mean return dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from purejaxrl.stats import mean_and_band

    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4))
    for ax, (env_id, runs) in zip(np.atleast_1d(axes), curves.items(), strict=True):
        for (name, (steps, returns)), colour in zip(runs.items(), ("C1", "C0", "C2"), strict=False):
            mean, low, high = mean_and_band(returns)
            ax.plot(steps, mean, color=colour, label=name)
            ax.fill_between(steps, low, high, color=colour, alpha=0.2)
        ax.axhline(expert_returns[env_id], color="k", ls="--", lw=1, label="expert's greedy play")
        ax.set(xlabel="env steps", ylabel="episode return", title=env_id)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = common.argument_parser(__doc__, num_seeds=8, dataset_steps=32_000, runs_dir="runs")
    parser.add_argument("--expert-episodes", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--envs", nargs="+", default=list(PPO_SETTINGS))
    args = parser.parse_args()
    record = {"command": common.command(args)}
    runs_dir = Path(args.runs_dir)
    curves, expert_returns = {}, {}
    for env_id in args.envs:
        settings = {"env_id": env_id, **PPO_SETTINGS[env_id], "num_seeds": args.num_seeds,
                    "runs_dir": str(runs_dir), "progress": False, "compilation_cache": ""}  # fmt: skip
        # 1. PPO on the true reward; its best seed is the expert
        result = runner.run(ppo.PPOConfig(**settings), ppo.make_learner, "ppo")
        print(cli.format_table(result), flush=True)
        finals = result.summary["results"][0]["final_return_per_seed"]
        expert_run = int(np.argmax(finals))
        row = {"ppo": common.returns_row(result, run_dir=str(result.run_dir))}
        curves[env_id] = {
            "PPO, true reward": (result.env_steps, result.metrics["episode_return"][0])
        }

        # 2. the expert's data, greedy
        out = runs_dir / "datasets" / f"{env_id.split('-')[0].lower()}-gail-expert"
        collect_args = CollectArgs(str(result.run_dir), out=str(out), split="expert",
                                   steps=args.dataset_steps, run=expert_run)  # fmt: skip
        dataset = make_dataset(collect_args)
        datasets.save(out, dataset)
        row["expert"] = {
            "dataset": str(out), "ppo_run": expert_run, "collected_episodes":
            int(dataset.episode_returns.size), "collected_mean_return": dataset.mean_return(),
        }  # fmt: skip
        common.report(env_id, "expert", row["expert"])

        # 3. GAIL on the first N episodes of it, for each N
        for episodes in args.expert_episodes:
            used = datasets.first_episodes(dataset, episodes)
            config = gail.GAILConfig(**settings, dataset=str(out), expert_episodes=episodes)
            result_gail = runner.run(config, gail.make_learner, "gail")
            print(cli.format_table(result_gail), flush=True)
            metrics = result_gail.metrics
            row[f"gail_{episodes}_episodes"] = common.returns_row(
                result_gail, run_dir=str(result_gail.run_dir), target=TARGETS[env_id],
                expert_transitions=len(used), expert_mean_return=used.mean_return(),
                final_disc_expert_accuracy=float(np.mean(metrics["disc_expert_accuracy"][0, :, -10:])),
                final_disc_policy_accuracy=float(np.mean(metrics["disc_policy_accuracy"][0, :, -10:])),
            )  # fmt: skip
            common.report(
                env_id, f"gail_{episodes}", row[f"gail_{episodes}_episodes"]["final_return_mean"]
            )
            curves[env_id][f"GAIL, {episodes} expert episodes"] = (
                result_gail.env_steps, metrics["episode_return"][0])  # fmt: skip
            record[env_id] = row
            common.write_record("gail", record)
        expert_returns[env_id] = row["expert"]["collected_mean_return"]
    plot(common.result_file("gail_curve.png"), curves, expert_returns)
    common.write_record("gail", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
