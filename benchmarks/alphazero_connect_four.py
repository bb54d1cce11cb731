"""AlphaZero on connect four against a random and a 2-ply player; results in
benchmarks/results/alphazero_connect_four.json and alphazero_connect_four_curve.png.

Trains `--num-seeds` seeds of `purejaxrl.alphazero` on connect_four (vmapped, one program) and,
before training and every `--eval-every` updates, plays each seed's agent against the two fixed
opponents of `purejaxrl/connectfour.py`, `--eval-games` games from each side: the search
(greedy: most visited move, no noise, `--eval-simulations` per move) and the raw network (its
most probable legal move). The random player plays a uniformly random legal move; the 2-ply
player takes an immediate win, else avoids moves that let the opponent win at once, else plays
at random. Records win / draw / loss rates, and plots the win rates against updates.

    python benchmarks/alphazero_connect_four.py [--num-seeds 2] [--updates 600] [--eval-every 50]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import common
import jax
import numpy as np

from purejaxrl import alphazero as az
from purejaxrl import connectfour as c4
from purejaxrl.hparams import hparams
from purejaxrl.outputs import plot_curves


def main() -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--num-seeds", type=int, default=2)
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--eval-games", type=int, default=64, help="per side and opponent")
    parser.add_argument("--eval-simulations", type=int, default=64)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--num-steps", type=int, default=42)
    parser.add_argument("--num-simulations", type=int, default=32)
    parser.add_argument("--gradient-steps", type=int, default=az.Config.gradient_steps)
    parser.add_argument("--opening-moves", type=int, default=az.Config.opening_moves)
    parser.add_argument(
        "--keep-games",
        action=argparse.BooleanOptionalAction,
        default=az.Config.keep_games,
        help="games go on across updates (the config's keep_games)",
    )
    parser.add_argument("--out", default="alphazero_connect_four", help="results/<out>.json")
    args = parser.parse_args()

    base = az.Config(
        env_id="connect_four",
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        num_simulations=args.num_simulations,
        gradient_steps=args.gradient_steps,
        opening_moves=args.opening_moves,
        keep_games=args.keep_games,
    )
    config = dataclasses.replace(base, total_timesteps=base.steps_per_update * args.updates)
    spec = config.validate()
    learner = az.make_learner(config, spec)
    network = az.make_network(config, spec)
    hp = hparams(config)
    keys = jax.random.split(jax.random.key(config.seed), args.num_seeds)
    state = jax.jit(jax.vmap(learner.init, in_axes=(0, None)))(keys, hp)

    def chunk(state):
        return jax.lax.scan(lambda s, _: learner.update(s, hp), state, None, args.eval_every)

    chunk = jax.jit(jax.vmap(chunk))
    evaluate = c4.make_evaluation(network, args.eval_games, args.eval_simulations)

    def evaluation(state, done: int, train_time: float, metrics=None) -> dict:
        start = time.perf_counter()
        row = {"updates": done, "moves": done * config.steps_per_update}
        per_seed = []
        for seed in range(args.num_seeds):
            params = jax.tree.map(lambda x, s=seed: x[s], state.params)
            per_seed.append(evaluate(params, jax.random.key(1000 + done)))
        for match in per_seed[0]:
            seeds = [c4.rates(outcomes[match]) for outcomes in per_seed]
            for result in ("win", "draw", "loss"):
                row[f"{match}_{result}"] = [r[result] for r in seeds]
            first = [c4.rates(outcomes[match][0])["win"] for outcomes in per_seed]
            row[f"{match}_win_first"] = first
            row[f"{match}_win_second"] = [
                c4.rates(outcomes[match][1])["win"] for outcomes in per_seed
            ]
        if metrics is not None:
            row["self_play_game_length"] = np.asarray(
                metrics["game_length"][:, -10:].mean(axis=1)
            ).tolist()
            row["loss"] = np.asarray(metrics["loss"][:, -10:].mean(axis=1)).tolist()
        row["train_time_s"] = round(train_time, 1)
        row["eval_time_s"] = round(time.perf_counter() - start, 1)
        common.report(row)
        return row

    labels = {
        "search_vs_random": f"search ({args.eval_simulations} sims) vs random",
        "search_vs_two_ply": f"search ({args.eval_simulations} sims) vs 2-ply",
        "network_vs_random": "raw network vs random",
        "network_vs_two_ply": "raw network vs 2-ply",
    }
    seeds = f"{args.num_seeds} seed{'s' if args.num_seeds > 1 else ''}"
    title = f"AlphaZero on connect four: win rate over {2 * args.eval_games} games ({seeds})"
    curve, train_time = [evaluation(state, 0, 0.0)], 0.0
    for done in range(args.eval_every, args.updates + 1, args.eval_every):
        start = time.perf_counter()
        state, metrics = chunk(state)
        jax.block_until_ready(state)
        train_time += time.perf_counter() - start
        curve.append(evaluation(state, done, train_time, metrics))
        # written after every evaluation: a stopped run keeps its curve so far
        record = {
            "command": common.command(args),
            "config": dataclasses.asdict(config),
            "games_per_side": args.eval_games,
            "curve": curve,
        }
        common.write_record(args.out, record)
        plot_curves(
            common.result_file(f"{args.out}_curve.png"),
            np.array([row["updates"] for row in curve]),
            [np.array([row[f"{m}_win"] for row in curve]).T for m in labels],  # (seed, eval)
            list(labels.values()),
            title,
            xlabel="training updates",
            ylabel="win rate (both sides)",
        )


if __name__ == "__main__":
    main()
