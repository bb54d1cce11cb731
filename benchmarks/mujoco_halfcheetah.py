"""MuJoCo HalfCheetah-v4 through envpool on this CPU: env steps/s of plain envpool, of our adapter
(`envs.mujoco`, one host callback per step) and of PPO training on it; then PPO's learning at
CleanRL's ppo_continuous_action settings (the `mujoco` suite defaults); results in
benchmarks/results/mujoco_halfcheetah.json and mujoco_halfcheetah_ppo_curve.png.

    python benchmarks/mujoco_halfcheetah.py --total-timesteps 300000 --num-seeds 2

Throughput: random actions in [-1, 1], `--num-envs` envs for `--steps` steps each, the median of
`--repeats` timed loops after a warm-up; plain envpool is a Python loop over `pool.step`, the
adapter a jitted `lax.scan` over `env.step`. PPO's figure is the runner's steps/s of a short run
(compilation excluded). The machine's cores are shared, so the figures are noisy.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import common

ENV_ID = "HalfCheetah-v4"

CLEANRL_REFERENCE = {
    "source": "CleanRL ppo_continuous_action.py, documented benchmark (docs.cleanrl.dev/rl-algorithms/ppo)",
    "note": "read off the learning curve plotted there at the same step; see benchmarks/README.md",
}


def plain_envpool(num_envs: int, steps: int, repeats: int) -> float:
    """Env steps/s of a Python loop over envpool's own `step` (float64 actions)."""
    import envpool
    import numpy as np

    pool = envpool.make(ENV_ID, env_type="gymnasium", num_envs=num_envs, seed=0)
    pool.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, num_envs, 6))
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for t in range(steps):
            pool.step(actions[t])
        times.append(time.perf_counter() - start)
    return num_envs * steps / statistics.median(times[1:])


def adapter(num_envs: int, steps: int, repeats: int) -> float:
    """Env steps/s of our adapter stepped in a jitted scan (random float32 actions)."""
    import jax

    from purejaxrl import envs

    env = envs.make_batched(ENV_ID, num_envs)

    def run(key):
        obs, state = env.reset(key)

        def body(carry, key):
            state, total = carry
            action = jax.random.uniform(key, (num_envs, 6), minval=-1.0, maxval=1.0)
            _, state, reward, *_ = env.step(key, state, action)
            return (state, total + reward.sum()), None

        return jax.lax.scan(body, (state, 0.0), jax.random.split(key, steps))[0][1]

    run = jax.jit(run)
    times = []
    for r in range(repeats + 1):
        start = time.perf_counter()
        jax.block_until_ready(run(jax.random.key(r)))
        times.append(time.perf_counter() - start)
    return num_envs * steps / statistics.median(times[1:])


def main() -> None:
    args = common.argument_parser(
        __doc__, total_timesteps=300_000, num_seeds=2, num_envs=1, steps=5_000, repeats=3
    ).parse_args()
    from purejaxrl import cli, runner
    from purejaxrl.outputs import plot_curves
    from purejaxrl.ppo import PPOConfig, make_learner

    throughput = {
        "num_envs": args.num_envs,
        "steps_per_env": args.steps,
        "plain_envpool_steps_per_s": plain_envpool(args.num_envs, args.steps, args.repeats),
        "adapter_steps_per_s": adapter(args.num_envs, args.steps, args.repeats),
    }
    short = PPOConfig.for_env(
        ENV_ID, total_timesteps=10 * 2048, progress=False, compilation_cache=""
    )
    throughput["ppo_training"] = common.timed_runs(short, make_learner, "ppo", args.repeats)
    common.report("throughput", throughput)

    config = PPOConfig.for_env(ENV_ID, **common.run_settings(args))
    result = runner.run(config, make_learner, "ppo", write=False)
    print(cli.format_table(result))
    plot_curves(
        common.result_file("mujoco_halfcheetah_ppo_curve.png"),
        result.env_steps,
        result.metrics["episode_return"],
        [""],
        f"PPO {ENV_ID} (envpool), CleanRL's settings, {args.num_seeds} seeds, 95% bands",
    )
    record = {
        "command": common.command(args),
        "config": dataclasses.asdict(config),
        "throughput": throughput,
        "ppo": common.returns_row(result, steps_per_second=result.summary["steps_per_second"]),
        "reference": CLEANRL_REFERENCE,
    }
    common.write_record("mujoco_halfcheetah", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
