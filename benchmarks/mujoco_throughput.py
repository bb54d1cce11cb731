"""MuJoCo HalfCheetah-v4 through envpool on this CPU: env steps/s of plain envpool, of our adapter
(`envs.mujoco`, one host callback per step), of envpool's XLA call with float64 confined around
it (the route not taken) and of PPO training on the adapter (CleanRL's settings, the
`mujoco` suite defaults); results in benchmarks/results/mujoco_throughput.json.

    python benchmarks/mujoco_throughput.py

Random actions in [-1, 1], `--steps` steps of each of `--num-envs` envs, the median of
`--repeats` timed loops after a warm-up: plain envpool is a Python loop over `pool.step` (float64
actions), the adapter a jitted `lax.scan` over `env.step` (float32 actions drawn in JAX). PPO's
figure is the runner's steps/s of a 10-update run (compilation excluded). The machine's two cores
are shared with other work, so the figures are noisy.
"""

from __future__ import annotations

import statistics
import time

import common

ENV_ID = "HalfCheetah-v4"


def plain_envpool(num_envs: int, steps: int, repeats: int) -> float:
    """Env steps/s of a Python loop over envpool's own `step`."""
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
    """Env steps/s of our adapter stepped in a jitted scan."""
    import jax

    from purejaxrl import envs

    env = envs.make_batched(ENV_ID, num_envs)

    def run(key):
        _, state = env.reset(key)

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


def x64_confined_xla(num_envs: int, steps: int, repeats: int) -> float:
    """Env steps/s of envpool's XLA call in a jitted scan with float64 switched on only around it
    (`jax.enable_x64` inside the trace), the route the adapter does not take: it runs only if
    `pool.xla()` itself is called with float64 on (otherwise envpool declares float32
    observations and writes float64 ones into them: garbage, past the buffer's end), it gives
    envpool's dummy reset steps, and it rests on switching x64 inside a trace. Speed only."""
    import envpool
    import jax
    import jax.numpy as jnp

    pool = envpool.make(ENV_ID, env_type="gymnasium", num_envs=num_envs, seed=0)
    pool.reset()  # xla() before a first reset crashed
    with jax.enable_x64(True):
        handle, _, _, xla_step = pool.xla()

    def run(key, handle):
        def body(carry, key):
            handle, total = carry
            action = jax.random.uniform(key, (num_envs, 6), minval=-1.0, maxval=1.0)
            with jax.enable_x64(True):
                handle, (obs, reward, *_) = xla_step(handle, action.astype(jnp.float64))
                total = total + reward.astype(jnp.float32).sum() + obs.astype(jnp.float32).sum()
            return (handle, total), None

        return jax.lax.scan(body, (handle, jnp.float32(0)), jax.random.split(key, steps))[0][1]

    run = jax.jit(run)
    times = []
    for r in range(repeats + 1):
        start = time.perf_counter()
        jax.block_until_ready(run(jax.random.key(r), handle))
        times.append(time.perf_counter() - start)
    return num_envs * steps / statistics.median(times[1:])


def main() -> None:
    parser = common.argument_parser(__doc__, steps=4_000, repeats=3)
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    from purejaxrl.ppo import PPOConfig, make_learner

    rows = []
    for num_envs in args.num_envs:
        plain = plain_envpool(num_envs, args.steps, args.repeats)
        ours = adapter(num_envs, args.steps, args.repeats)
        x64 = x64_confined_xla(num_envs, args.steps, args.repeats)
        rows.append(
            {
                "num_envs": num_envs,
                "plain_envpool_steps_per_s": plain,
                "adapter_steps_per_s": ours,
                "adapter_over_plain": ours / plain,
                "x64_confined_xla_steps_per_s": x64,
            }
        )
        common.report("env steps", rows[-1])
    short = PPOConfig.for_env(
        ENV_ID, total_timesteps=10 * 2048, progress=False, compilation_cache=""
    )
    ppo = common.timed_runs(short, make_learner, "ppo", args.repeats)
    common.report("ppo", ppo)
    record = {"command": common.command(args), "env_id": ENV_ID, "env_steps": rows, "ppo": ppo}
    common.write_record("mujoco_throughput", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
