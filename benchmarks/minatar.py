"""PQN and PPO on Breakout-MinAtar and SpaceInvaders-MinAtar at a CPU budget; results in
benchmarks/results/minatar.json and one curve per game (minatar_<game>_curve.png).

Settings are the published MinAtar ones of each algorithm's reference code, with the network of
this repository (the 10x10xC frames are flattened and fed to an MLP: our gymnax MinAtar ids have
vector observations):

- PQN: purejaxql's `config/alg/pqn_minatar.yaml` (128 envs x 32 steps, 2 epochs of 32
  minibatches, RAdam lr 5e-4 decayed linearly, gamma 0.99, lambda 0.65, epsilon 1 -> 0.05 over the
  first 10%, gradient clip 10, rewards unscaled, LayerNorm). purejaxql uses a small CNN (one 3x3
  conv of 16 channels, a 128-unit layer); here the default 256x256 LayerNorm MLP.
- PPO: gymnax-blines' `agents/<game>/ppo.yaml` (64 envs x 128 steps, 4 epochs of 8 minibatches,
  Adam lr 5e-4 not decayed, gamma 0.999, GAE lambda 0.95, clip 0.2, entropy 0.01, value 0.5,
  gradient clip 0.5, separate 256x256 ReLU MLPs, flattened frames as there). gymnax-blines warms
  the learning rate up over the first 5%; here it is constant.

Both train at `--total-timesteps` per run (the references use 1e7; a CPU benchmark here cannot),
so the schedules (PQN's epsilon and lr decay) are compressed into that budget. One run per
(algorithm, game) through the shared runner, `--num-seeds` seeds each, no progress bar,
compilation cache off. A call that reruns some games or algorithms at the same budget and seeds
keeps the other results already in the JSON (each result records the command that made it).

    python benchmarks/minatar.py [--total-timesteps 524288] [--num-seeds 4]
"""

from __future__ import annotations

import dataclasses
import json
import time

import common

from purejaxrl import ppo, pqn, runner
from purejaxrl.outputs import plot_curves

GAMES = ("Breakout-MinAtar", "SpaceInvaders-MinAtar")

PQN_MINATAR = dict(
    num_envs=128, num_steps=32, num_epochs=2, num_minibatches=32, lr=5e-4, anneal_lr=True,
    optimizer="radam", gamma=0.99, q_lambda=0.65, epsilon_start=1.0, epsilon_end=0.05,
    epsilon_decay=0.1, max_grad_norm=10.0, reward_scale=1.0, layer_norm=True,
)  # fmt: skip
"""purejaxql config/alg/pqn_minatar.yaml (network aside)."""

PPO_MINATAR = dict(
    num_envs=64, num_steps=128, update_epochs=4, num_minibatches=8, lr=5e-4, anneal_lr=False,
    gamma=0.999, gae_lambda=0.95, clip_eps=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5,
    hidden_sizes=(256, 256), activation="relu",
)  # fmt: skip
"""gymnax-blines agents/{Breakout,SpaceInvaders}-MinAtar/ppo.yaml (lr warm-up aside)."""

REFERENCES = {
    "ppo": {
        "source": "gymnax 1.0.1 README (its table of gymnax-blines PPO checkpoints), settings in "
        "gymnax-blines agents/<game>/ppo.yaml",
        "budget_env_steps": 10_000_000,
        "returns": {"Breakout-MinAtar": 28, "SpaceInvaders-MinAtar": 131},
        "note": "return of the trained checkpoint as the README lists it (R: 28, R: 131); "
        "evaluation protocol not stated there",
    },
    "pqn": {
        "source": "purejaxql (github.com/mttga/purejaxql), config/alg/pqn_minatar.yaml",
        "budget_env_steps": 10_000_000,
        "returns": None,
        "note": "purejaxql's README and configs publish no MinAtar return for these games; none "
        "was found, so none is quoted",
    },
}

ALGOS = {
    "pqn": (pqn.PQNConfig, pqn.make_learner, PQN_MINATAR, "PQN"),
    "ppo": (ppo.PPOConfig, ppo.make_learner, PPO_MINATAR, "PPO"),
}


def main() -> None:
    parser = common.argument_parser(__doc__, total_timesteps=524_288, num_seeds=4)
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=GAMES)
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS))
    parser.add_argument("--output", default="minatar", help="name of the JSON and the curves")
    args = parser.parse_args()

    shared = common.run_settings(args)
    command = common.command(args)
    path = common.RESULTS / f"{args.output}.json"
    results: dict[str, dict[str, dict]] = {}
    configs = {}
    if path.exists():  # keep the games and algorithms this call does not rerun, at the same budget
        previous = json.loads(path.read_text())
        if (previous["total_timesteps"], previous["num_seeds"]) == (
            args.total_timesteps,
            args.num_seeds,
        ):
            results, configs = previous["results"], previous["configs"]
    for game in args.games:
        results[game] = {k: v for k, v in results.get(game, {}).items() if k not in args.algos}
        curves = []
        for name in args.algos:
            config_cls, make_learner, settings, _ = ALGOS[name]
            config = config_cls(env_id=game, **settings, **shared)
            configs[name] = dataclasses.asdict(dataclasses.replace(config, env_id="<game>"))
            start = time.perf_counter()
            result = runner.run(config, make_learner, name, write=False)
            row = common.returns_row(
                result,
                wall_time_s=time.perf_counter() - start,
                steps_per_second=result.summary["steps_per_second"],
            )
            results[game][name] = {"command": command, **row}
            common.report(game, name, row)
            curves.append((name, result.env_steps, result.metrics["episode_return"][0]))
            short = game.removesuffix("-MinAtar").lower()
            plot_curves(  # redrawn after every algorithm, so that a stopped run keeps its curves
                common.result_file(f"{args.output}_{short}_curve.png"),
                [steps for _, steps, _ in curves],
                [returns for _, _, returns in curves],
                [ALGOS[name][3] for name, _, _ in curves],
                f"{game}, {args.total_timesteps:,} steps ({args.num_seeds} seeds, 95% bands)",
            )
            record = {  # rewritten after every run, so that a stopped call keeps what it finished
                "commands": sorted(
                    {
                        r["command"]
                        for rows in results.values()
                        for r in rows.values()
                        if "command" in r
                    }
                ),
                "total_timesteps": args.total_timesteps,
                "num_seeds": args.num_seeds,
                "configs": configs,
                "results": results,
                "references": REFERENCES,
            }
            common.write_record(args.output, record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
