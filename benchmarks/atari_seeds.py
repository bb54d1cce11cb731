"""PPO seeds on Pong-v5 in one process against separate processes; results in benchmarks/results/.

For each seed count S, at the same total number of games (S x `--num-envs`):

- one process: the S runs vmapped in one program, stepping one envpool pool of S x num_envs games
  (`envs.atari.AtariEnv` with `runs=S`), as `--num-seeds S` trains them;
- S processes started together, one run each, with its own pool of num_envs games and its own
  compile, as one process per seed did before.

Every process compiles `init` and `update` (compile time reported apart), takes one warm-up
update, then times `--rounds` rounds of `--updates` updates; in every round all processes start
together (a barrier) and the round's rate is all env steps of all runs over the wall time from
the first start to the last finish. Medians over rounds are reported.

    python benchmarks/atari_seeds.py [--seeds 1 2 4] [--num-envs 8] [--num-steps 32]
        [--updates 3] [--rounds 3] [--modes one-process processes]
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import statistics
import time
from queue import Empty

import common

ENV_ID = "Pong-v5"


def worker(runs, seed, settings, rounds, updates, barrier, queue) -> None:
    """One process: `runs` PPO runs vmapped together (plain calls when `runs` is 1)."""
    import jax

    from purejaxrl import ppo
    from purejaxrl.config import hparams

    config = ppo.PPOConfig.for_env(ENV_ID, seed=seed, progress=False, **settings)
    spec = dataclasses.replace(config.env_spec(), runs=runs)
    learner = ppo.make_learner(config, spec)
    hp, keys = hparams(config), jax.random.key(seed)
    init, update = learner.init, learner.update
    if runs > 1:
        hp = jax.tree.map(lambda x: jax.numpy.repeat(x[None], runs, 0), hp)
        keys = jax.random.split(keys, runs)
        init, update = jax.vmap(init), jax.vmap(update)
    start = time.perf_counter()
    init = jax.jit(init).lower(keys, hp).compile()
    state = jax.block_until_ready(init(keys, hp))
    update = jax.jit(update).lower(state, hp).compile()
    compile_s = time.perf_counter() - start
    state = jax.block_until_ready(update(state, hp))[0]  # warm-up
    for _ in range(rounds):
        barrier.wait()
        begin = time.time()
        for _ in range(updates):
            state = update(state, hp)[0]
        jax.block_until_ready(state)
        queue.put({"compile_s": compile_s, "begin": begin, "end": time.time()})


def measure(mode, seeds, settings, rounds, updates, steps_per_update) -> dict:
    """Starts the processes of one (mode, seed count) and gathers their timings."""
    context = multiprocessing.get_context("spawn")
    processes = 1 if mode == "one-process" else seeds
    runs = seeds if mode == "one-process" else 1
    barrier, queue = context.Barrier(processes), context.Queue()
    num_envs = settings["num_envs"]
    workers = [
        context.Process(
            target=worker,
            args=(runs, i * num_envs, settings, rounds, updates, barrier, queue),
        )  # process i plays the games of run i of the one-process program
        for i in range(processes)
    ]
    for w in workers:
        w.start()
    reports = []
    while len(reports) < processes * rounds:
        try:
            reports.append(queue.get(timeout=5))
        except Empty:
            if any(w.exitcode not in (None, 0) for w in workers):
                for w in workers:
                    w.kill()
                raise RuntimeError(f"a {mode} worker failed; its traceback is above") from None
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise RuntimeError(f"a {mode} worker exited with {w.exitcode}")
    by_round = [reports[i * processes : (i + 1) * processes] for i in range(rounds)]
    steps = seeds * updates * steps_per_update
    rates = [
        steps / (max(r["end"] for r in rnd) - min(r["begin"] for r in rnd)) for rnd in by_round
    ]
    row = {
        "mode": mode,
        "seeds": seeds,
        "processes": processes,
        "games": seeds * num_envs,
        "compile_s": statistics.median(r["compile_s"] for r in reports),
        "steps_per_second_rounds": rates,
        "steps_per_second": statistics.median(rates),
    }
    common.report(row)
    return row


def main() -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--num-steps", type=int, default=32)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--modes", nargs="+", default=["one-process", "processes"],
        choices=["one-process", "processes"],
    )  # fmt: skip
    args = parser.parse_args()
    steps_per_update = args.num_envs * args.num_steps
    settings = {
        "num_envs": args.num_envs,
        "num_steps": args.num_steps,
        # enough updates for the warm-up and every round; the learning rate barely anneals
        "total_timesteps": 10 * (1 + args.rounds * args.updates) * steps_per_update,
        "compilation_cache": "",
    }
    rows = []
    for seeds in args.seeds:
        for mode in args.modes:
            if mode == "processes" and seeds == 1 and "one-process" in args.modes:
                continue  # the same as one process of one run
            rows.append(measure(mode, seeds, settings, args.rounds, args.updates, steps_per_update))
    record = {
        "command": common.command(),
        "env_id": ENV_ID,
        "settings": settings,
        "updates_per_round": args.updates,
        "rounds": args.rounds,
        "rows": rows,
    }
    common.write_record("atari_seeds", record)


if __name__ == "__main__":
    main()
