"""AlphaZero on tic-tac-toe against perfect play; results in benchmarks/results/alphazero_tictactoe.json.

Trains `--num-seeds` seeds of `purejaxrl.alphazero` at its defaults (vmapped, one program) and,
every `--eval-every` updates, plays the search (greedy, no noise, `--eval-simulations` per move)
in each of tic-tac-toe's 4,520 positions with a move to make, both sides, and counts against
the minimax solver (`purejaxrl/tictactoe.py`) the moves that turn a drawn or won position into a
lost one ("losing": 0 means the agent never loses to the perfect player from any position its
side is not already lost in) and those that give up any value ("suboptimal").

    python benchmarks/alphazero_tictactoe.py [--num-seeds 2] [--updates 600] [--eval-every 100]

`--params-out PATH.npz` saves every seed's parameters after each evaluation; `--params-in
PATH.npz` skips training and scores those parameters at each `--eval-simulations` budget (the
costly budgets, 256 simulations, go in a process of their own this way). `--seed-index I ...`
trains only those seeds of the `--num-seeds` run (`jax.random.split`'s first keys do not depend
on the count, so `--num-seeds 4 --seed-index 0` and `--num-seeds 1` train the same key).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import common
import jax
import numpy as np

from purejaxrl import alphazero as az
from purejaxrl import tictactoe as ttt
from purejaxrl.hparams import hparams


def main() -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--num-seeds", type=int, default=2)
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-simulations", type=int, nargs="+", default=[64])
    parser.add_argument("--num-simulations", type=int, default=az.Config.num_simulations)
    parser.add_argument("--opening-moves", type=int, default=az.Config.opening_moves)
    parser.add_argument(
        "--keep-games",
        action=argparse.BooleanOptionalAction,
        default=az.Config.keep_games,
        help="games go on across updates (the config's keep_games)",
    )
    parser.add_argument(
        "--seed-index",
        type=int,
        nargs="+",
        default=None,
        help="train only these of the --num-seeds seeds (their keys as in the full run; trained "
        "in a program of another width, they take their own floating-point path)",
    )
    parser.add_argument("--out", default="alphazero_tictactoe", help="results/<out>.json")
    parser.add_argument(
        "--params-out",
        default="",
        help="also save every seed's parameters after each evaluation to this .npz, to score "
        "them again later at another search budget",
    )
    parser.add_argument(
        "--params-in",
        default="",
        help="score the parameters saved by --params-out (no training), at --eval-simulations",
    )
    args = parser.parse_args()

    base = az.Config(
        num_simulations=args.num_simulations,
        opening_moves=args.opening_moves,
        keep_games=args.keep_games,
    )
    config = dataclasses.replace(base, total_timesteps=base.steps_per_update * args.updates)
    spec = config.validate()
    learner = az.make_learner(config, spec)
    network = az.make_network(config, spec)
    hp = hparams(config)
    keys = jax.random.split(jax.random.key(config.seed), args.num_seeds)
    if args.seed_index is not None:
        bad = [i for i in args.seed_index if not 0 <= i < args.num_seeds]
        if bad:
            parser.error(f"--seed-index {bad[0]}: must be in 0 .. {args.num_seeds - 1}")
        keys = keys[np.asarray(args.seed_index)]
    num_seeds = len(keys)
    state = jax.jit(jax.vmap(learner.init, in_axes=(0, None)))(keys, hp)

    def chunk(state):
        return jax.lax.scan(lambda s, _: learner.update(s, hp), state, None, args.eval_every)

    chunk = jax.jit(jax.vmap(chunk))
    boards = ttt.decision_positions()
    if args.params_in:
        params = load_params(args.params_in, state.params)
        scores = {}
        for sims in args.eval_simulations:
            start = time.perf_counter()
            counts = count_mistakes(network, params, boards, sims, num_seeds)
            scores[f"losing_at_{sims}"] = [c["losing"] for c in counts]
            scores[f"suboptimal_at_{sims}"] = [c["suboptimal"] for c in counts]
            scores[f"time_at_{sims}_s"] = round(time.perf_counter() - start, 1)
            common.report(scores)
            record = {"command": common.command(args), "params": args.params_in, **scores}
            common.write_record(args.out, record)
        return
    curve, train_time = [], 0.0
    for done in range(args.eval_every, args.updates + 1, args.eval_every):
        start = time.perf_counter()
        state, metrics = chunk(state)
        jax.block_until_ready(state)
        train_time += time.perf_counter() - start
        row = {
            "updates": done,
            "moves": done * config.steps_per_update,
            "train_time_s": round(train_time, 1),
            "self_play_draws": np.asarray(metrics["draws"][:, -10:].mean(axis=1)).tolist(),
        }
        for sims in args.eval_simulations:
            counts = count_mistakes(network, state.params, boards, sims, num_seeds)
            row[f"losing_at_{sims}"] = [c["losing"] for c in counts]
            row[f"suboptimal_at_{sims}"] = [c["suboptimal"] for c in counts]
        curve.append(row)
        common.report(row)
        record = {
            "command": common.command(args),
            "config": dataclasses.asdict(config),
            "positions": len(boards),
            "curve": curve,
        }
        common.write_record(args.out, record)  # after every evaluation: a stopped run keeps them
        if args.params_out:
            save_params(args.params_out, state.params)


def count_mistakes(network, params, boards, sims: int, num_seeds: int) -> list[dict]:
    """Each seed's mistakes (`tictactoe.count_mistakes`) with the search at `sims` simulations
    in every position of `boards`; `params` hold the seeds along their first axis."""
    counts = []
    for seed in range(num_seeds):
        one = jax.tree.map(lambda x, s=seed: x[s], params)
        moves = az.search_moves(network, one, jax.random.key(1), boards, sims)
        counts.append(ttt.count_mistakes(moves))
    return counts


def load_params(path: str, like):
    """The parameter tree saved by `save_params`, shaped as `like` (same tree, same seeds).

    Raises:
        SystemExit: the file's arrays do not match `like`'s leaves (another network or seed count).
    """
    saved = np.load(path)
    leaves, tree = jax.tree_util.tree_flatten_with_path(like)
    names = [jax.tree_util.keystr(key) for key, _ in leaves]
    if sorted(names) != sorted(saved.files) or any(
        saved[n].shape != leaf.shape for n, (_, leaf) in zip(names, leaves, strict=True)
    ):
        raise SystemExit(
            f"alphazero_tictactoe.py: {path} holds other parameters than this network with these "
            "seeds: pass the --num-seeds and settings it was trained with"
        )
    return jax.tree_util.tree_unflatten(tree, [saved[n] for n in names])


def save_params(path: str, params) -> None:
    """Writes a (seeds, ...) parameter tree as one .npz, atomically: key = the leaf's tree path."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    arrays = {jax.tree_util.keystr(key): np.asarray(leaf) for key, leaf in leaves}
    partial = f"{path}.partial.npz"
    np.savez(partial, **arrays)
    os.replace(partial, path)


if __name__ == "__main__":
    main()
