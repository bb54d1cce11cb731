"""Hand-written policies that the dataset and offline tests record as experts."""

from __future__ import annotations

import jax.numpy as jnp


def balance(obs):
    """A CartPole-v1 controller that keeps the pole up for the whole 500 steps: push towards the
    side the pole falls to, with a little of the cart's position and velocity. obs (E, 4) -> (E,)."""
    return (0.1 * obs[:, 0] + 0.5 * obs[:, 1] + 3.0 * obs[:, 2] + obs[:, 3] > 0).astype(jnp.int32)


def balancing_expert(exported, obs, key):
    """`balance` as a policy `act(exported, obs, key) -> action` for `collect.collect`."""
    return balance(obs)
