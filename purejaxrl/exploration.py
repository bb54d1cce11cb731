"""Exploration rules shared by the value-based algorithms (tabular Q-learning, DQN)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def epsilon_greedy(key: jax.Array, q_s: jax.Array, epsilon) -> jax.Array:
    """A random action with probability epsilon, else a greedy one (ties broken at random).

    Args:
        q_s: (A,) action values of one state; vmap for a batch.

    Returns:
        () int32 action.
    """
    explore_key, action_key, tie_key = jax.random.split(key, 3)
    noise = jax.random.uniform(tie_key, q_s.shape)
    greedy = jnp.argmax(jnp.where(q_s == q_s.max(), noise, -1.0))
    random = jax.random.randint(action_key, (), 0, q_s.shape[0])
    return jnp.where(jax.random.uniform(explore_key) < epsilon, random, greedy).astype(jnp.int32)


def linear_epsilon(start, end, anneal_steps, step) -> jax.Array:
    """Epsilon decayed linearly from `start` to `end` over `anneal_steps`, then held at `end`."""
    return end + (start - end) * jnp.clip(1.0 - step / anneal_steps, 0.0, 1.0)
