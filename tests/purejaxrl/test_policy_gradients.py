"""REINFORCE's estimator: returns by hand, unbiasedness against analytic gradients, variance.

The gradient tests use tabular softmax policies on two small MDPs whose expected return J(theta)
can be written out, so grad J is exact (autodiff of the closed form). Each variant's estimator, the
same functions `purejaxrl.reinforce` trains with, is averaged over many vmapped batches and must
match grad J within a few standard errors. gamma = 1 (the episodic objective), except in the
discounted test: with gamma < 1 the plain reward-to-go weighting drops the gamma^t factor of the
exact gradient (common practice, biased), which `--discount-weights` puts back.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl.reinforce import score_function_loss
from purejaxrl.returns import (
    complete_episode_mask,
    episode_return,
    episodes_started_before,
    reward_to_go,
    steps_since_episode_start,
)

# Two envs (columns), six steps: env 0 ends episodes after steps 1 and 4 (step 5 starts a third
# episode the rollout cuts off); env 1 ends one after step 5.
REWARDS = jnp.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0], [5.0, 1.0], [6.0, 1.0]])
DONES = jnp.array([[0, 0], [1, 0], [0, 0], [0, 0], [1, 0], [0, 1]])


def test_reward_to_go_by_hand_with_episodes_ending_inside_the_batch():
    g = reward_to_go(REWARDS, DONES, 0.5)
    np.testing.assert_allclose(g[:, 0], [1 + 0.5 * 2, 2, 3 + 0.5 * 4 + 0.25 * 5, 4 + 0.5 * 5, 5, 6])
    np.testing.assert_allclose(g[:, 1], [sum(0.5**k for k in range(6 - t)) for t in range(6)])


def test_total_return_by_hand_is_the_whole_episodes_return_at_every_step():
    total = episode_return(REWARDS, DONES, 0.5)
    first, second = 1 + 0.5 * 2, 3 + 0.5 * 4 + 0.25 * 5
    np.testing.assert_allclose(total[:, 0], [first, first, second, second, second, 6])
    np.testing.assert_allclose(total[:, 1], np.full(6, sum(0.5**k for k in range(6))))
    np.testing.assert_allclose(episode_return(REWARDS, DONES, 1.0)[:, 0], [3, 3, 12, 12, 12, 6])


def test_steps_since_episode_start_by_hand():
    k = steps_since_episode_start(DONES)
    np.testing.assert_array_equal(k[:, 0], [0, 1, 0, 1, 2, 0])  # episodes start at 0, 2 and 5
    np.testing.assert_array_equal(k[:, 1], [0, 1, 2, 3, 4, 5])
    discounted = reward_to_go(REWARDS, DONES, 0.5) * 0.5**k  # Sutton and Barto's gamma^t G_t
    np.testing.assert_allclose(discounted[:, 0], [2, 0.5 * 2, 3 + 2 + 1.25, 0.5 * 6.5, 0.25 * 5, 6])


def test_the_mask_keeps_complete_episodes_only():
    mask = complete_episode_mask(DONES)
    np.testing.assert_array_equal(mask[:, 0], [1, 1, 1, 1, 1, 0])  # step 5's episode is cut off
    np.testing.assert_array_equal(mask[:, 1], [1, 1, 1, 1, 1, 1])


def test_episodes_are_kept_by_their_start_not_their_end():
    # Env 0's episodes start at steps 0, 2 and 5; env 1's at step 0 only.
    np.testing.assert_array_equal(episodes_started_before(DONES, 3)[:, 0], [1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(episodes_started_before(DONES, 2)[:, 0], [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(episodes_started_before(DONES, 1)[:, 1], [1, 1, 1, 1, 1, 1])


def test_selecting_episodes_by_their_start_is_not_biased_towards_short_ones():
    """Episodes of length 2 or 9 with equal chance (mean 5.5), played back to back: keeping those
    that end inside a 10-step window over-represents the short ones; keeping those that start in
    the first 5 steps, played on to step 14, does not."""
    lengths = jax.random.choice(jax.random.key(0), jnp.array([2, 9]), (20000, 8))
    ends = jnp.cumsum(lengths, axis=1) - 1  # the last step of each episode, per column
    dones = jax.vmap(lambda e: jnp.zeros(20, jnp.int32).at[e].set(1, mode="drop"))(ends).T
    starts = jnp.concatenate([jnp.ones_like(dones[:1]), dones[:-1]]).astype(bool)

    def mean_kept_length(kept):
        return float(kept.sum() / (starts[: len(kept)] & kept).sum())  # steps per kept episode

    assert mean_kept_length(episodes_started_before(dones[:14], 5)) == pytest.approx(5.5, abs=0.1)
    assert mean_kept_length(complete_episode_mask(dones[:10])) < 5.0


def softmax_log_prob(theta, states, actions):
    """log pi(a | s) of a tabular softmax policy theta (S, A), for arrays of states and actions."""
    log_pi = jax.nn.log_softmax(theta[states])  # (..., A)
    return jnp.take_along_axis(log_pi, actions[..., None], axis=-1)[..., 0]


# Bandit: one state, three arms with mean rewards 6, 5, 7 and unit Gaussian noise. The large
# common offset is what baselines remove.
ARM_MEANS = jnp.array([6.0, 5.0, 7.0])


def bandit_episodes(theta, key, m):
    """m one-step episodes: (log_prob (1, m) as a function of theta, rewards (1, m), dones, states)."""
    action_key, noise_key = jax.random.split(key)
    actions = jax.random.categorical(action_key, theta[0], shape=(m,))
    rewards = ARM_MEANS[actions] + jax.random.normal(noise_key, (m,))
    return actions[None], rewards[None], jnp.ones((1, m)), jnp.zeros((1, m), jnp.int32)


def bandit_objective(theta):
    return jnp.sum(jax.nn.softmax(theta[0]) * ARM_MEANS)


# Two-step MDP: from state 0, action a0 in {0, 1} pays R1[a0] and leads to state 1 + a0; there,
# action a1 pays R2[a0, a1] and the episode ends. Rewards carry unit Gaussian noise.
R1 = jnp.array([5.0, 4.0])
R2 = jnp.array([[1.0, 3.0], [4.0, 0.0]])


def two_step_episodes(theta, key, m):
    k0, k1, n0, n1 = jax.random.split(key, 4)
    a0 = jax.random.categorical(k0, theta[0], shape=(m,))
    s1 = 1 + a0
    a1 = jax.random.categorical(k1, theta[s1])
    r0 = R1[a0] + jax.random.normal(n0, (m,))
    r1 = R2[a0, a1] + jax.random.normal(n1, (m,))
    states = jnp.stack([jnp.zeros_like(s1), s1])
    dones = jnp.stack([jnp.zeros(m), jnp.ones(m)])
    return jnp.stack([a0, a1]), jnp.stack([r0, r1]), dones, states


def two_step_objective(theta):
    pi0 = jax.nn.softmax(theta[0])
    second = jnp.stack([jax.nn.softmax(theta[1]) @ R2[0], jax.nn.softmax(theta[2]) @ R2[1]])
    return pi0 @ (R1 + second)


def exact_values(theta, states, objective):
    """V^pi(s) of the visited states: J at the start, the second step's expectation after it."""
    if objective is bandit_objective:
        return jnp.full(states.shape, bandit_objective(theta))
    second = jnp.stack([jax.nn.softmax(theta[1]) @ R2[0], jax.nn.softmax(theta[2]) @ R2[1]])
    return jnp.where(states == 0, two_step_objective(theta), second[jnp.maximum(states - 1, 0)])


def estimate(theta, key, m, episodes, objective, variant):
    """One REINFORCE gradient estimate of grad J from m episodes (ascent direction)."""
    actions, rewards, dones, states = episodes(theta, key, m)
    returns = episode_return if variant == "total" else reward_to_go
    weight = returns(rewards, dones, 1.0)
    if variant == "mean baseline":
        weight = weight - 6.0  # a constant: any value keeps the estimator unbiased
    if variant == "value baseline":
        weight = weight - exact_values(theta, states, objective)
    mask = complete_episode_mask(dones).astype(jnp.float32)

    def surrogate(theta):
        log_prob = softmax_log_prob(theta, states, actions)
        return -score_function_loss(log_prob, weight, mask, dones.sum())

    return jax.grad(surrogate)(theta)


VARIANTS = ["total", "reward to go", "mean baseline", "value baseline"]
PROBLEMS = {
    "bandit": (bandit_episodes, bandit_objective, jnp.array([[0.3, -0.2, 0.1]])),
    "two-step": (
        two_step_episodes,
        two_step_objective,
        jnp.array([[0.2, -0.1], [0.5, 0.0], [-0.3, 0.4]]),
    ),
}


def estimates(problem: str, variant: str, batches=4000, m=8):
    episodes, objective, theta = PROBLEMS[problem]
    keys = jax.random.split(jax.random.key(0), batches)
    one = lambda key: estimate(theta, key, m, episodes, objective, variant)  # noqa: E731
    return np.asarray(jax.jit(jax.vmap(one))(keys)), np.asarray(jax.grad(objective)(theta))


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_every_variant_is_unbiased_and_baselines_reduce_its_variance(problem):
    variances = {}
    for variant in VARIANTS:
        samples, exact = estimates(problem, variant)
        mean = samples.mean(axis=0)
        standard_error = samples.std(axis=0) / np.sqrt(len(samples))
        assert np.all(np.abs(mean - exact) <= 4 * standard_error + 1e-6), (variant, mean, exact)
        variances[variant] = samples.var(axis=0).sum()
    assert variances["mean baseline"] < 0.5 * variances["reward to go"], variances
    assert variances["value baseline"] < 0.5 * variances["reward to go"], variances
    assert variances["reward to go"] <= variances["total"] * 1.05, variances


def test_discounted_weights_are_unbiased_for_the_discounted_objective_and_plain_ones_are_not():
    """gamma = 0.5 on the two-step MDP: J = E[r_0 + 0.5 r_1]. Weighting step t by gamma^t G_t
    (Sutton and Barto 2018, section 13.3) matches grad J; G_t alone overweights the second step's
    action by 1 / gamma."""
    gamma, theta = 0.5, PROBLEMS["two-step"][2]

    def objective(theta):
        pi0 = jax.nn.softmax(theta[0])
        second = jnp.stack([jax.nn.softmax(theta[1]) @ R2[0], jax.nn.softmax(theta[2]) @ R2[1]])
        return pi0 @ (R1 + gamma * second)

    def one(key, discounted):
        actions, rewards, dones, states = two_step_episodes(theta, key, 8)
        weight = reward_to_go(rewards, dones, gamma)
        if discounted:
            weight = weight * gamma ** steps_since_episode_start(dones)
        mask = complete_episode_mask(dones).astype(jnp.float32)
        surrogate = lambda t: (
            -score_function_loss(  # noqa: E731
                softmax_log_prob(t, states, actions), weight, mask, dones.sum()
            )
        )
        return jax.grad(surrogate)(theta)

    keys = jax.random.split(jax.random.key(1), 4000)
    exact = np.asarray(jax.grad(objective)(theta))
    for discounted in (True, False):
        samples = np.asarray(jax.jit(jax.vmap(lambda k: one(k, discounted)))(keys))  # noqa: B023
        error = np.abs(samples.mean(axis=0) - exact)
        standard_error = samples.std(axis=0) / np.sqrt(len(samples))
        if discounted:
            assert np.all(error <= 4 * standard_error + 1e-6), (samples.mean(axis=0), exact)
        else:
            assert np.any(error[1:] > 8 * standard_error[1:]), (samples.mean(axis=0), exact)
