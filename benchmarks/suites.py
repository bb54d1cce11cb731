"""The JAX suites under our algorithms (needs the suites extra); results in benchmarks/results/suites_<part>.json.

Five parts, one per call (`--part`):

- `speed`: for each suite's id, the raw vmapped env step (random actions, one jitted scan,
  `common.env_steps_per_second`) beside PPO's training steps/s on it through the shared runner
  (`common.timed_runs`), at the same number of envs; medians of `--repeats`.
- `resets`: Craftax's raw vmapped step with gymnax's reset of every env beside optimistic resets
  (`--env-options optimistic_resets=K`, one fresh world per 16 envs).
- `memory`: xminigrid:MiniGrid-MemoryS8, a partially observed task (a 3x3 view: the object shown
  at the start of the corridor must be matched at its end), recurrent PPO (GRU) against
  feed-forward PPO at the same budget and settings (`MEMORY_PPO`: 32 envs x 64 steps, 4 epochs
  of 4 minibatches, lr 3e-4), `--num-seeds` seeds each, with curves. The view is
  observed as one-hot tile and colour codes (`one_hot=True`; `--no-one-hot`: xminigrid's raw ids).
- `solve`: PPO (feed-forward) on a fully solvable XLand-MiniGrid task (`--solve-id`, by default
  MiniGrid-DoorKey-5x5: pick up the key, open the door, reach the goal), one-hot views, `--num-seeds`
  seeds, with a curve. MiniGrid's reward is 1 - 0.9 t / T on reaching the goal at step t (T: the
  time limit), 0 on a time-out, so a return near 1 is a quick solve.
- `craftax`: the Craftax-Classic-Symbolic PPO record at a CPU budget, with the settings of the
  Craftax paper's PPO baseline (Craftax_Baselines `ppo.py` defaults: 64 steps, 4 epochs of 8
  minibatches, lr 2e-4 annealed, gamma 0.99, GAE lambda 0.8, clip 0.2, entropy 0.01, value 0.5,
  gradient clip 1.0, tanh MLP of 512 units) except the number of envs (`--num-envs`; 1024 there).
  Long: about an hour or more on a CPU.

    python benchmarks/suites.py --part speed [--num-envs 64] [--repeats 3]
    python benchmarks/suites.py --part resets [--num-envs 64] [--repeats 3]
    python benchmarks/suites.py --part memory [--total-timesteps 1000000] [--num-seeds 8] [--no-one-hot]
    python benchmarks/suites.py --part solve [--solve-id xminigrid:MiniGrid-DoorKey-5x5] [--num-seeds 8]
    python benchmarks/suites.py --part craftax [--total-timesteps 1000000] [--num-seeds 4] [--num-envs 64]
"""

from __future__ import annotations

import argparse

import common

CRAFTAX_ID = "craftax:Craftax-Classic-Symbolic-v1"

SPEED_IDS = (
    CRAFTAX_ID,
    "xminigrid:MiniGrid-MemoryS8",
    "jumanji:Snake-v1",
    "jumanji:Game2048-v1",
)

MEMORY_ID = "xminigrid:MiniGrid-MemoryS8"

MEMORY_PPO = dict(num_envs=32, num_steps=64, update_epochs=4, num_minibatches=4, lr=3e-4)
"""Both agents' settings on the `memory` task (their other fields at their defaults). With
masked CartPole's (8 envs, lr 1e-3) neither agent left chance in 5e5 steps."""

SOLVE_PPO = dict(num_envs=16, num_steps=128, update_epochs=4, num_minibatches=4, lr=1e-3)
"""PPO's settings on the `solve` task (its other fields at their defaults)."""

CRAFTAX_PPO = dict(
    num_steps=64, update_epochs=4, num_minibatches=8, lr=2e-4, anneal_lr=True, gamma=0.99,
    gae_lambda=0.8, clip_eps=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=1.0,
    activation="tanh", hidden_sizes=(512, 512, 512),
)  # fmt: skip
"""Craftax_Baselines ppo.py's defaults (its number of envs aside)."""


def speed(args) -> dict:
    from purejaxrl import ppo

    rows = {}
    for env_id in SPEED_IDS:
        raw = common.env_steps_per_second(env_id, args.num_envs, 128, args.repeats)
        config = ppo.Config(
            env_id=env_id, num_envs=args.num_envs, num_steps=128, num_minibatches=4,
            total_timesteps=args.num_envs * 128 * 8, num_seeds=1, progress=False,
            compilation_cache="", eval_episodes=0,
        )  # fmt: skip
        trained = common.timed_runs(config, ppo.make_learner, "ppo", args.repeats)
        rows[env_id] = {
            "raw_env_steps_per_second": raw,
            "ppo_steps_per_second": trained["steps_per_second"],
            "ppo_compile_time_s": trained["compile_time_s"],
            "ppo_run_times_s": trained["run_times_s"],
        }
        common.report(env_id, rows[env_id])
    return {"num_envs": args.num_envs, "repeats": args.repeats, "results": rows}


def resets(args) -> dict:
    """Craftax's raw vmapped step (random actions, 32 steps of `--num-envs` envs, medians of
    `--repeats`) with gymnax's reset of every env and with optimistic resets."""
    from purejaxrl import envs

    rows = {}
    for fresh in (0, craftax_resets(args.num_envs)):
        options = {"optimistic_resets": fresh} if fresh else {}
        spec = envs.spec(CRAFTAX_ID, **options)
        rows[f"optimistic_resets={fresh}" if fresh else "every env resets"] = {
            "raw_env_steps_per_second": common.env_steps_per_second(
                spec, args.num_envs, 32, args.repeats
            )
        }
        common.report(rows)
    return {"env_id": CRAFTAX_ID, "num_envs": args.num_envs, "repeats": args.repeats, **rows}


def memory(args) -> dict:
    from purejaxrl import cli, ppo, ppo_rnn, runner
    from purejaxrl.outputs import plot_curves

    settings = {**MEMORY_PPO, "env_options": one_hot_option(args)}
    record, curves = {}, []
    for algo, module in (("ppo_rnn", ppo_rnn), ("ppo", ppo)):
        config = module.Config(env_id=MEMORY_ID, **settings, **common.run_settings(args))
        result = runner.run(config, module.make_learner, algo, write=False)
        print(cli.format_table(result), flush=True)
        record[algo] = common.returns_row(result, greedy=result.summary.get("greedy_evaluation"))
        common.report(MEMORY_ID, algo, record[algo]["final_return_mean"])
        curves.append((result.env_steps, result.metrics["episode_return"][0]))
    plot_curves(
        common.result_file("suites_memory_curve.png"),
        [s for s, _ in curves],
        [r for _, r in curves],
        ["recurrent PPO (GRU)", "feed-forward PPO"],
        f"{MEMORY_ID}, {args.total_timesteps:,} steps ({args.num_seeds} seeds, 95% bands)",
    )
    return {"settings": settings, "results": record}


def one_hot_option(args) -> tuple[str, ...]:
    return ("one_hot=True",) if args.one_hot else ()


def solve(args) -> dict:
    from purejaxrl import cli, ppo, runner
    from purejaxrl.outputs import plot_curves

    settings = {**SOLVE_PPO, "env_options": one_hot_option(args)}
    config = ppo.Config(env_id=args.solve_id, **settings, **common.run_settings(args))
    result = runner.run(config, ppo.make_learner, "ppo", write=False)
    print(cli.format_table(result), flush=True)
    row = common.returns_row(
        result,
        greedy=result.summary.get("greedy_evaluation"),
        steps_per_second=result.summary["steps_per_second"],
    )
    common.report(args.solve_id, row["final_return_mean"])
    plot_curves(
        common.result_file("suites_solve_curve.png"),
        [result.env_steps],
        [result.metrics["episode_return"][0]],
        ["PPO"],
        f"{args.solve_id}, {args.total_timesteps:,} steps ({args.num_seeds} seeds, 95% band)",
    )
    return {"env_id": args.solve_id, "settings": settings, "results": {"ppo": row}}


def craftax_resets(num_envs: int) -> int:
    """Fresh worlds per batch step (`optimistic_resets`): one per 16 envs, as Craftax_Baselines'
    `OptimisticResetVecEnvWrapper` has it (at least one)."""
    return max(1, num_envs // 16)


def craftax_achievements(config, exported, episodes: int) -> dict:
    """The Craftax paper's measures of each run's final policy, playing `episodes` fresh episodes
    with sampled actions (as in training): each of the 22 achievements' success rate (% of
    episodes in which it was unlocked), the score exp(mean_i ln(1 + s_i)) - 1 over those rates
    s_i in % (Crafter's score), the return and the length, per run and their mean over runs."""
    import jax
    import numpy as np

    from purejaxrl import envs, ppo
    from purejaxrl.evaluate import with_memory
    from purejaxrl.rollout import first_episode_info

    spec = config.validate()
    env = envs.make_batched(spec, episodes)
    _, state = env.reset(jax.random.key(0))
    info = jax.eval_shape(env.step, jax.random.key(0), state, np.zeros(episodes, np.int32))[5]
    names = sorted(k for k in info if k.startswith("Achievements/"))
    act = with_memory(ppo.make_sampling_policy(config, spec), None)
    keys = ("episode_return", "episode_length", *names)

    def one_run(exported_run, key):
        return first_episode_info(act, exported_run, env, spec.episode_limit + 1, key, None, keys)

    runs = jax.tree.leaves(exported)[0].shape[0]
    ends = jax.jit(jax.vmap(one_run))(exported, jax.random.split(jax.random.key(1), runs))
    ends = {k: np.asarray(v, np.float64) for k, v in ends.items()}  # (runs, episodes) each
    rates = np.stack([(ends[name] > 0).mean(axis=1) * 100 for name in names], axis=1)
    score = np.exp(np.log1p(rates).mean(axis=1)) - 1  # (runs,)
    return {
        "episodes_per_run": episodes,
        "score_percent": float(score.mean()),
        "score_percent_per_run": score.round(3).tolist(),
        "return_mean": float(ends["episode_return"].mean()),
        "length_mean": float(ends["episode_length"].mean()),
        "success_rate_percent": {
            name.removeprefix("Achievements/"): float(rate)
            for name, rate in zip(names, rates.mean(axis=0), strict=True)
        },
    }


def craftax(args) -> dict:
    from purejaxrl import ppo, runner
    from purejaxrl.outputs import plot_curves

    config = ppo.Config(
        env_id=CRAFTAX_ID, num_envs=args.num_envs,
        env_options=(f"optimistic_resets={craftax_resets(args.num_envs)}",),
        total_timesteps=args.total_timesteps, num_seeds=args.num_seeds, progress=True,
        compilation_cache="", **CRAFTAX_PPO,
    )  # fmt: skip
    result = runner.run(config, ppo.make_learner, "ppo", write=False)
    row = common.returns_row(result, steps_per_second=result.summary["steps_per_second"])
    row["final_policy"] = craftax_achievements(config, result.exported, args.eval_episodes)
    common.report(row["final_policy"])
    plot_curves(
        common.result_file("suites_craftax_curve.png"),
        [result.env_steps],
        [result.metrics["episode_return"][0]],
        ["PPO"],
        f"Craftax-Classic-Symbolic, {args.total_timesteps:,} steps ({args.num_seeds} seeds)",
    )
    settings = {**CRAFTAX_PPO, "num_envs": args.num_envs, "env_options": list(config.env_options)}
    return {"settings": settings, "results": {"ppo": row}}


PARTS = {"speed": speed, "resets": resets, "memory": memory, "solve": solve, "craftax": craftax}


def main() -> None:
    parser = common.argument_parser(
        __doc__, total_timesteps=1_000_000, num_seeds=8, num_envs=64, repeats=3
    )
    parser.add_argument("--part", choices=list(PARTS), required=True)
    parser.add_argument("--one-hot", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--solve-id", default="xminigrid:MiniGrid-DoorKey-5x5")
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=32,
        help="craftax: episodes per run of the final policy",
    )
    args = parser.parse_args()
    record = {"command": common.command(args), **PARTS[args.part](args)}
    common.write_record(f"suites_{args.part}", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
