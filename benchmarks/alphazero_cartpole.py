"""Sample efficiency on CartPole-v1: AlphaZero with the true model (alphazero_mdp) against PPO and
DQN at the same env-step budget, 8 seeds each; results in benchmarks/results/alphazero_cartpole.json
and alphazero_cartpole_curve.png.

Each algorithm is one run of `--num-seeds` seeds through the shared runner for `--total-timesteps`
env steps (searches' simulated steps not counted), no progress bar, compilation cache off:
alphazero_mdp and PPO at their defaults (PPO anneals its learning rate over this budget); DQN at
its defaults but for its epsilon schedule, scaled to the budget by CleanRL's rule (linear decay
over half the run: `epsilon_anneal_steps = total_timesteps / 2`; its default 2.5e5 would leave
epsilon at 0.62 here), with 1,000-step updates for a finer curve (the update size only sets
where metrics are read). The return at a checkpoint x (2e4, 5e4, 1e5 steps) is each seed's mean
training-episode return over the updates ending in (0.8 x, x], then the mean over seeds with a
95% bootstrap interval: the return of the policy that acts in training (the search for
alphazero_mdp, epsilon-greedy for DQN, sampled for PPO). The greedy evaluation at the end (the
raw network, no search, for alphazero_mdp) is recorded too, and every run's wall time.

    python benchmarks/alphazero_cartpole.py [--num-seeds 8] [--total-timesteps 102400]
    python benchmarks/alphazero_cartpole.py --only alphazero_mdp --num-simulations 16 \
        --out alphazero_cartpole_16   # the search budget's effect
    python benchmarks/alphazero_cartpole.py --only muzero --num-seeds 8 --out muzero_cartpole

`--only muzero` runs MuZero (`purejaxrl.muzero`: the same search and acting loop, the model
learned) at its defaults, beside which the true-model record above is read; its greedy
evaluation is the search with the learned model (it needs observations only).
"""

from __future__ import annotations

import dataclasses

import common
import numpy as np

from purejaxrl import alphazero_mdp, dqn, muzero, ppo, runner
from purejaxrl.outputs import plot_curves
from purejaxrl.stats import bootstrap_ci

CHECKPOINTS = (20_000, 50_000, 100_000)
ALGOS = ("alphazero_mdp", "ppo", "dqn", "muzero")
DEFAULT_ALGOS = ["alphazero_mdp", "ppo", "dqn"]


def return_at(env_steps: np.ndarray, returns: np.ndarray, x: int) -> dict:
    """Mean over seeds (and 95% CI) of each seed's mean episode return in the updates ending in
    (0.8 x, x]; returns (seed, update), NaN where no episode ended."""
    window = (env_steps > 0.8 * x) & (env_steps <= x)
    per_seed = np.nanmean(returns[:, window], axis=1)
    return {
        "env_steps": x,
        "mean": float(np.mean(per_seed)),
        "ci95": bootstrap_ci(per_seed),
        "per_seed": per_seed.tolist(),
    }


def main() -> None:
    parser = common.argument_parser(
        __doc__, num_seeds=8, total_timesteps=102_400, num_simulations=32
    )
    parser.add_argument("--only", nargs="+", default=DEFAULT_ALGOS, choices=ALGOS)
    parser.add_argument("--out", default="alphazero_cartpole", help="results/<out>.json, ...")
    args = parser.parse_args()
    shared = common.run_settings(args)
    sims = args.num_simulations
    algos = {
        "alphazero_mdp": (
            alphazero_mdp.Config(**shared, num_simulations=sims),
            alphazero_mdp.make_learner,
        ),
        "muzero": (muzero.Config(**shared, num_simulations=sims), muzero.make_learner),
        "ppo": (ppo.PPOConfig(**shared), ppo.make_learner),
        "dqn": (
            dqn.DQNConfig(
                **shared,
                epsilon_anneal_steps=args.total_timesteps / 2,
                steps_per_update=1000,
            ),
            dqn.make_learner,
        ),
    }
    algos = {name: algos[name] for name in args.only}
    rows, curves = {}, []
    for name, (config, make_learner) in algos.items():
        result = runner.run(config, make_learner, name, write=False)
        returns = result.metrics["episode_return"][0]  # (seed, update)
        greedy = result.summary.get("greedy_evaluation")
        rows[name] = {
            "returns_at": [
                return_at(result.env_steps, returns, x)
                for x in CHECKPOINTS
                if x <= result.env_steps[-1]
            ],
            "final_greedy_return": greedy["results"][0]["greedy_return_mean"] if greedy else None,
            "compile_time_s": result.summary["compile_time_s"],
            "run_time_s": result.summary["run_time_s"],
        }
        curves.append((result.env_steps, returns))
        common.report(name, rows[name])
    record = {
        "command": common.command(args),
        "configs": {name: dataclasses.asdict(config) for name, (config, _) in algos.items()},
        "results": rows,
    }
    common.write_record(args.out, record)
    labels = {"alphazero_mdp": f"AlphaZero, true model ({sims} simulations)", "ppo": "PPO",
              "dqn": "DQN (epsilon over half the run)",
              "muzero": f"MuZero, learned model ({sims} simulations)"}  # fmt: skip
    plot_curves(
        common.result_file(f"{args.out}_curve.png"),
        [steps for steps, _ in curves],
        [returns for _, returns in curves],
        [labels[name] for name in algos],
        f"CartPole-v1, {args.total_timesteps:,} env steps ({args.num_seeds} seeds, 95% bands)",
    )


if __name__ == "__main__":
    common.run_on_all_cores(main)
