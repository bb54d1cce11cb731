"""Advantage and return estimators: GAE and Monte Carlo returns (PPO, A2C, REINFORCE), Q(lambda) (PQN).

Time-major arrays throughout: leading axis T (steps of a rollout), any batch axes after it.
Truncation is handled by the caller passing `next_values[t] = V(s'_t)`, the value of the true
next state (gymnax's `info["final_observation"]` when the episode ended), and two flags:
`terminated` stops bootstrapping, `done` (terminated or truncated) stops the trace.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def generalized_advantage_estimation(
    r_t: jax.Array,
    v_t: jax.Array,
    v_tp1: jax.Array,
    terminated_t: jax.Array,
    done_t: jax.Array,
    gamma: jax.Array | float,
    lambda_: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """GAE(gamma, lambda) advantages and lambda-returns (Schulman et al. 2016, "High-Dimensional
    Continuous Control Using Generalized Advantage Estimation", eq. 16).

        delta_t = r_t + gamma * (1 - terminated_t) * v_tp1[t] - v_t[t]
        A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   A_T = 0

    Args:
        r_t: rewards, shape (T, ...).
        v_t: values of the states the actions were taken in, shape (T, ...).
        v_tp1: values of the true next states (the final observation where the episode ended),
            shape (T, ...).
        terminated_t: 1 where s'_t is terminal (no bootstrap), shape (T, ...).
        done_t: 1 where the episode ended (terminated or truncated) after step t, shape (T, ...).
        gamma: discount factor.
        lambda_: GAE trace parameter; 1 gives Monte Carlo returns bootstrapped at the rollout end,
            0 gives one-step TD errors.

    Returns:
        (advantages, returns), both shape (T, ...), with returns = advantages + v_t.
    """
    chex.assert_equal_shape([r_t, v_t, v_tp1, terminated_t, done_t])
    not_terminated = 1.0 - terminated_t.astype(v_t.dtype)
    not_done = 1.0 - done_t.astype(v_t.dtype)
    deltas = r_t + gamma * not_terminated * v_tp1 - v_t

    def backward(advantage_tp1, inputs):
        delta, continues = inputs
        advantage = delta + gamma * lambda_ * continues * advantage_tp1
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(deltas[0]), (deltas, not_done), reverse=True
    )
    return advantages, advantages + v_t


def reward_to_go(r_t: jax.Array, done_t: jax.Array, gamma: jax.Array | float) -> jax.Array:
    """Monte Carlo reward-to-go G_t = sum_{k >= t} gamma^(k - t) r_k up to the end of t's episode.

        G_t = r_t + gamma (1 - done_t) G_{t+1},   G_T = 0

    No bootstrapping: where the rollout ends inside an episode, G_t is only a partial sum, so
    such steps must be masked out (`complete_episode_mask`).

    Args:
        r_t: rewards, shape (T, ...). done_t: 1 where the episode ended after step t.

    Returns:
        shape (T, ...).
    """
    chex.assert_equal_shape([r_t, done_t])
    continues = 1.0 - done_t.astype(r_t.dtype)

    def backward(g_tp1, inputs):
        r, c = inputs
        g = r + gamma * c * g_tp1
        return g, g

    _, g = jax.lax.scan(backward, jnp.zeros_like(r_t[0]), (r_t, continues), reverse=True)
    return g


def episode_return(r_t: jax.Array, done_t: jax.Array, gamma: jax.Array | float) -> jax.Array:
    """The discounted return of the whole episode, sum_k gamma^k r_k from its first step, at
    every step of it (REINFORCE's "total return" weighting).

    The rollout must start at an episode's start (the first step of each column begins one).

    Args:
        r_t: rewards, shape (T, ...). done_t: 1 where the episode ended after step t.

    Returns:
        shape (T, ...); partial sums on an episode the rollout cuts off (mask those out).
    """
    g = reward_to_go(r_t, done_t, gamma)
    starts = jnp.concatenate([jnp.ones_like(done_t[:1]), done_t[:-1]]).astype(bool)

    def forward(current, inputs):
        start, g_t = inputs
        current = jnp.where(start, g_t, current)
        return current, current

    _, total = jax.lax.scan(forward, jnp.zeros_like(g[0]), (starts, g))
    return total


def steps_since_episode_start(done_t: jax.Array) -> jax.Array:
    """k_t: how many steps of its episode came before step t (0 at every episode's first step).

    The rollout must start at an episode's start. REINFORCE's discounted weighting multiplies the
    reward-to-go by gamma^k_t (Sutton and Barto 2018, section 13.3).

    Args:
        done_t: 1 where the episode ended after step t, shape (T, ...).

    Returns:
        int32, shape (T, ...).
    """
    t, start_time = episode_start_times(done_t)
    return (t - start_time).astype(jnp.int32)


def episode_start_times(done_t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(t, s_t): each step's index and the index of the first step of its episode, both of
    shape (T, 1, ...) broadcastable against `done_t` (T, ...); the rollout starts an episode."""
    t = jnp.arange(done_t.shape[0]).reshape((-1,) + (1,) * (done_t.ndim - 1))
    starts = jnp.concatenate([jnp.ones_like(done_t[:1]), done_t[:-1]]).astype(bool)
    return t, jax.lax.cummax(jnp.where(starts, t, 0), axis=0)


def complete_episode_mask(done_t: jax.Array) -> jax.Array:
    """1 on the steps whose episode ends inside the rollout (a done at this step or later).

    Args:
        done_t: shape (T, ...).

    Returns:
        bool, shape (T, ...).
    """
    ended_later = jax.lax.cummax(done_t.astype(jnp.int32), axis=0, reverse=True)
    return ended_later.astype(bool)


def episodes_started_before(done_t: jax.Array, start_window: int) -> jax.Array:
    """1 on the steps of episodes that start within the first `start_window` steps of the rollout.

    The rollout must start at an episode's start. Whether an episode is kept depends only on when
    it starts, that is on the episodes before it, never on its own length, so averaging over the
    kept episodes is unbiased; keeping every episode that *ends* inside a fixed window would
    favour short episodes. Play at least `start_window` + the episode limit steps so that every
    kept episode is complete.

    Args:
        done_t: 1 where the episode ended after step t, shape (T, ...).

    Returns:
        bool, shape (T, ...).
    """
    _, start_time = episode_start_times(done_t)
    return start_time < start_window


def q_lambda_returns(
    r_t: jax.Array,
    q_next_max_t: jax.Array,
    terminated_t: jax.Array,
    truncated_t: jax.Array,
    gamma: jax.Array | float,
    lambda_: jax.Array | float,
) -> jax.Array:
    """Peng's Q(lambda) returns with a greedy bootstrap (Watkins 1989, "Learning from Delayed
    Rewards", ch. 7; Peng and Williams 1996, "Incremental Multi-Step Q-Learning"), the regression
    targets of PQN (Gallici et al. 2024, "Simplifying Deep Temporal Difference Learning").

        G_t = r_t                                                          if terminated_t
        G_t = r_t + gamma * q_next_max_t                                   elif truncated_t or t = T-1
        G_t = r_t + gamma * (lambda * G_{t+1} + (1 - lambda) * q_next_max_t)   otherwise

    A truncated step bootstraps from its true next state but does not continue into the next
    episode; the last step of the rollout bootstraps as a one-step target.

    Args:
        r_t: rewards, shape (T, ...).
        q_next_max_t: max_a Q(s'_t, a) at the true next states (the final observation where the
            episode ended), shape (T, ...).
        terminated_t: 1 where s'_t is terminal (no bootstrap), shape (T, ...).
        truncated_t: 1 where the episode was cut after step t (bootstrap, no trace), shape (T, ...).
        gamma: discount factor.
        lambda_: trace parameter; 0 gives one-step Q-learning targets, 1 discounted returns
            bootstrapped only where the episode is cut or the rollout ends.

    Returns:
        shape (T, ...).
    """
    chex.assert_equal_shape([r_t, q_next_max_t, terminated_t, truncated_t])
    dtype = q_next_max_t.dtype
    not_terminated = 1.0 - terminated_t.astype(dtype)
    continues = not_terminated * (1.0 - truncated_t.astype(dtype))

    def backward(g_tp1, inputs):
        r, q_next, bootstraps, trace = inputs
        # lambda G_{t+1} + (1 - lambda) q_next, written so that it is exactly q_next where
        # G_{t+1} = q_next (the carry at the last step) or the trace is cut
        next_value = q_next + trace * lambda_ * (g_tp1 - q_next)
        g = r + gamma * bootstraps * next_value
        return g, g

    _, g = jax.lax.scan(
        backward,
        q_next_max_t[-1],
        (r_t.astype(dtype), q_next_max_t, not_terminated, continues),
        reverse=True,
    )
    return g
