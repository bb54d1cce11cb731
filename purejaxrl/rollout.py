"""On-policy experience collection shared by PPO, A2C and REINFORCE."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purejaxrl.learner import episode_info


class RolloutStep(NamedTuple):
    """One rollout step of every env; in a trajectory each field gains a leading (T,) axis."""

    obs: jax.Array  # (N, *obs_shape)
    action: jax.Array  # (N,) discrete or (N, action_dim) continuous
    log_prob: jax.Array  # (N,)
    value: jax.Array  # (N,)
    reward: jax.Array  # (N,)
    terminated: jax.Array  # (N,)
    done: jax.Array  # (N,) terminated or truncated
    next_obs: jax.Array  # (N, *obs_shape) true next observation, before any auto-reset
    valid: jax.Array  # (N,) bool, false for envpool's dummy reset steps: keep them out of losses
    dist: Any  # the behaviour policy's distribution (PPO's KL penalty uses it)
    info: dict  # episode statistics, (N,) each


def collect(env, network, params, env_state, obs: jax.Array, key: jax.Array, num_steps: int):
    """Steps `env` (a `BatchedEnv`) `num_steps` times with actions sampled from `network`.

    `network.apply(params, obs)` must return (distribution, value).

    Returns:
        (env_state, obs, key, trajectory): the env state and observation after the last step,
        the advanced key, and a `RolloutStep` whose fields have shape (num_steps, N, ...).
    """

    def step(carry, _):
        env_state, obs, key = carry
        key, act_key, env_key = jax.random.split(key, 3)
        dist, value = network.apply(params, obs)
        action = dist.sample(act_key)
        next_obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, env_state, action
        )
        transition = RolloutStep(
            obs=obs,
            action=action,
            log_prob=dist.log_prob(action),
            value=value,
            reward=reward,
            terminated=terminated,
            done=jnp.logical_or(terminated, truncated),
            next_obs=info["final_observation"],
            valid=info.get("valid", jnp.ones_like(terminated)),
            dist=dist,
            info=episode_info(info),
        )
        return (env_state, next_obs, key), transition

    (env_state, obs, key), trajectory = jax.lax.scan(step, (env_state, obs, key), None, num_steps)
    return env_state, obs, key, trajectory
