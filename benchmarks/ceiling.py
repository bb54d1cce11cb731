"""The raw env-step ceiling the benchmarks compare training against."""

from __future__ import annotations

import statistics
import time

import jax

import envs


def env_steps_per_second(env_id: str, num_envs: int, steps: int, repeats: int) -> float:
    """Env steps/s of `num_envs` envs taking uniformly random actions in one jitted scan."""
    env = envs.make_batched(env_id, num_envs)
    space = env.action_space

    def rollout(key):
        _, state = env.reset(key)

        def step(state, key):
            action_key, env_key = jax.random.split(key)
            action = jax.vmap(space.sample)(jax.random.split(action_key, num_envs))
            _, state, reward, *_ = env.step(env_key, state, action)
            return state, reward.sum()

        return jax.lax.scan(step, state, jax.random.split(key, steps))[1].sum()

    compiled = jax.jit(rollout).lower(jax.random.key(0)).compile()
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.key(r)))
        times.append(time.perf_counter() - start)
    return num_envs * steps / statistics.median(times)
