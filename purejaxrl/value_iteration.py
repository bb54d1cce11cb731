"""Value iteration: Q* of a finite MDP by iterating the Bellman optimality operator, jitted.

    (T Q)(s, a) = R(s, a) + gamma * sum_s' P(s, a, s') (1 - terminal(s')) max_a' Q(s', a')

T is a gamma-contraction in the sup norm (Bellman 1957; Puterman 1994, thm 6.2.3), so iterating it
from Q = 0 converges to its unique fixed point Q*.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class ValueIterationResult(NamedTuple):
    q: np.ndarray  # (S, A) Q*
    v: np.ndarray  # (S,) V* = max_a Q*
    policy: np.ndarray  # (S,) greedy action (the first of tied maxima)
    deltas: np.ndarray  # (iterations,) sup-norm distance between successive iterates
    iterations: int  # iterations until the distance fell below the tolerance


def bellman_optimality(q: jax.Array, P, R, terminal, gamma) -> jax.Array:
    """One application of the Bellman optimality operator to q (S, A)."""
    v_next = jnp.where(terminal, 0.0, q.max(axis=1))  # (S,)
    return R + gamma * P @ v_next


def value_iteration(mdp, gamma: float, tol: float = 1e-8, max_iterations: int = 10_000):
    """Q*, V*, the greedy policy and the per-iteration sup-norm distances of `mdp`.

    Args:
        mdp: anything with `P` (S, A, S), `R` (S, A) and `terminal` (S,), e.g. `Gridworld.mdp()`.
        gamma: discount in [0, 1]; with gamma = 1 every policy must reach a terminal state.
        tol: stop when the sup-norm change of one iteration is below this.
        max_iterations: upper bound on the number of iterations.
    """
    with jax.enable_x64(True):  # float64 so that Q* meets the Bellman equation to ~1e-12
        P, R = jnp.asarray(mdp.P, jnp.float64), jnp.asarray(mdp.R, jnp.float64)
        terminal = jnp.asarray(mdp.terminal)

        def cond(carry):
            _, delta, i, _ = carry
            return (delta >= tol) & (i < max_iterations)

        def body(carry):
            q, _, i, deltas = carry
            new = bellman_optimality(q, P, R, terminal, gamma)
            delta = jnp.abs(new - q).max()
            return new, delta, i + 1, deltas.at[i].set(delta)

        init = (jnp.zeros_like(R), jnp.inf, 0, jnp.full(max_iterations, jnp.nan))
        q, _, iterations, deltas = jax.jit(lambda c: jax.lax.while_loop(cond, body, c))(init)
        q, iterations = np.asarray(q), int(iterations)
    deltas = np.asarray(deltas)[:iterations]
    return ValueIterationResult(q, q.max(axis=1), q.argmax(axis=1), deltas, iterations)
