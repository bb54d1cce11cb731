"""GAE and lambda-returns against a plain Python loop and against values worked out by hand."""

import jax
import numpy as np
import pytest

from purejaxrl.returns import generalized_advantage_estimation


def gae_loop(r, v, v_next, terminated, done, gamma, lam):
    """The textbook recursion, one env, plain Python."""
    advantages = np.zeros(len(r))
    running = 0.0
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * (1 - terminated[t]) * v_next[t] - v[t]
        running = delta + gamma * lam * (1 - done[t]) * running
        advantages[t] = running
    return advantages


@pytest.fixture(params=["jit", "nojit"])
def gae(request):
    fn = generalized_advantage_estimation
    return jax.jit(fn) if request.param == "jit" else fn


def test_gae_matches_a_python_loop_with_episodes_ending_inside_the_batch(gae):
    rng = np.random.default_rng(0)
    T, N = 37, 5
    r = rng.normal(size=(T, N)).astype(np.float32)
    v = rng.normal(size=(T, N)).astype(np.float32)
    v_next = rng.normal(size=(T, N)).astype(np.float32)
    terminated = (rng.random((T, N)) < 0.1).astype(np.float32)
    truncated = (rng.random((T, N)) < 0.1).astype(np.float32) * (1 - terminated)
    done = np.maximum(terminated, truncated)
    adv, ret = gae(r, v, v_next, terminated, done, 0.97, 0.9)
    for n in range(N):
        expected = gae_loop(r[:, n], v[:, n], v_next[:, n], terminated[:, n], done[:, n], 0.97, 0.9)
        np.testing.assert_allclose(adv[:, n], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, adv + v, rtol=1e-6)


def test_gae_by_hand_three_steps_no_ending(gae):
    # gamma 0.5, lambda 0.5: deltas d = r + 0.5 v' - v
    r = np.array([[1.0], [2.0], [3.0]], np.float32)
    v = np.array([[0.0], [1.0], [2.0]], np.float32)
    v_next = np.array([[1.0], [2.0], [4.0]], np.float32)
    zeros = np.zeros_like(r)
    adv, ret = gae(r, v, v_next, zeros, zeros, 0.5, 0.5)
    # d2 = 3 + 2 - 2 = 3; d1 = 2 + 1 - 1 = 2; d0 = 1 + 0.5 - 0 = 1.5
    # A2 = 3; A1 = 2 + 0.25 * 3 = 2.75; A0 = 1.5 + 0.25 * 2.75 = 2.1875
    np.testing.assert_allclose(adv[:, 0], [2.1875, 2.75, 3.0])
    np.testing.assert_allclose(ret[:, 0], [2.1875, 3.75, 5.0])


def test_termination_stops_bootstrap_and_trace(gae):
    r = np.array([[1.0], [1.0]], np.float32)
    v = np.array([[0.5], [0.5]], np.float32)
    v_next = np.array([[10.0], [10.0]], np.float32)  # the value of s'_0 must be ignored
    terminated = np.array([[1.0], [0.0]], np.float32)
    adv, _ = gae(r, v, v_next, terminated, terminated, 0.9, 1.0)
    # A1 = 1 + 0.9 * 10 - 0.5 = 9.5;  A0 = 1 - 0.5 = 0.5 (no bootstrap, no trace from step 1)
    np.testing.assert_allclose(adv[:, 0], [0.5, 9.5], rtol=1e-6)


def test_truncation_bootstraps_from_the_final_observation_but_cuts_the_trace(gae):
    r = np.array([[1.0], [1.0]], np.float32)
    v = np.array([[0.5], [0.5]], np.float32)
    v_next = np.array([[2.0], [10.0]], np.float32)  # v_next[0] is V(final observation)
    terminated = np.zeros((2, 1), np.float32)
    done = np.array([[1.0], [0.0]], np.float32)  # truncated after step 0
    adv, _ = gae(r, v, v_next, terminated, done, 0.9, 1.0)
    # A0 = 1 + 0.9 * 2 - 0.5 = 2.3 (bootstrapped, but step 1 belongs to the next episode)
    np.testing.assert_allclose(adv[:, 0], [2.3, 9.5], rtol=1e-6)


def test_lambda_one_gives_discounted_monte_carlo_returns(gae):
    r = np.array([[1.0], [2.0], [4.0]], np.float32)
    v = np.array([[3.0], [-1.0], [7.0]], np.float32)  # arbitrary: they telescope at lambda = 1
    v_next = np.array([[-1.0], [7.0], [123.0]], np.float32)  # V(s_{t+1}); the last is terminal
    terminated = np.array([[0.0], [0.0], [1.0]], np.float32)
    _, ret = gae(r, v, v_next, terminated, terminated, 0.5, 1.0)
    np.testing.assert_allclose(ret[:, 0], [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4.0], rtol=1e-6)
