"""MuZero (a learned model searched with mctx): the unroll targets by hand (an episode that
terminates inside the unroll is absorbing, one truncated is masked), the loss by hand (written-out
numbers on a zeroed network, and the formula on a random one: the 1/K weights, the masks, the
halved gradient into the dynamics), the mctx wiring with a hand-set model (its reward for one
action decides the search; every edge discounts by gamma), the config's refusals (the contract
tests add the registry row's sweep, evaluation and probe checks)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("mctx")

from purejaxrl import muzero as mz  # noqa: E402
from purejaxrl.config import ConfigError  # noqa: E402

# ---- unroll targets ---------------------------------------------------------------------------


def test_unroll_targets_are_absorbing_after_a_termination_and_masked_after_a_truncation():
    """K = 2 over W = 4 steps of 3 envs: env 0 terminates at step 1, env 1 is truncated at
    step 1, env 2 terminates at step 0 and is truncated at step 2."""
    k = 2
    # numpy inputs and outputs: jnp ops run one by one would each compile (seconds in all)
    terminated = np.array([[0, 0, 1], [1, 0, 0], [0, 0, 0], [0, 0, 0]], bool)  # (W, N)
    done = np.array([[0, 0, 1], [1, 1, 0], [0, 0, 1], [0, 0, 0]], bool)
    reward = np.arange(12, dtype=np.float32).reshape(4, 3) + 1  # r[t, n] = 3 t + n + 1
    z = 100 + reward  # the value targets, distinguishable from the rewards
    action = np.arange(12, dtype=np.int32).reshape(4, 3)
    policy = np.eye(2, dtype=np.float32)[np.arange(12).reshape(4, 3) % 2]
    obs = np.arange(12.0, dtype=np.float32).reshape(4, 3, 1)
    s = jax.jit(mz.unroll_samples, static_argnums=7)(
        obs, action, reward, terminated, done, policy, z, k
    )
    s = jax.tree.map(np.asarray, s)
    assert s.obs.shape == (2, 3, 1) and s.policies.shape == (2, 3, 3, 2)
    r, v = reward, z

    def check(t, n, rewards, reward_mask, values, value_mask, policy_mask):
        np.testing.assert_array_equal(s.actions[t, n], [action[t, n], action[t + 1, n]])
        np.testing.assert_allclose(s.rewards[t, n], rewards)
        np.testing.assert_array_equal(s.reward_mask[t, n], reward_mask)
        np.testing.assert_allclose(s.values[t, n], values)
        np.testing.assert_array_equal(s.value_mask[t, n], value_mask)
        np.testing.assert_array_equal(s.policy_mask[t, n], policy_mask)
        np.testing.assert_array_equal(s.policies[t, n], policy[t : t + 3, n])

    # env 0 from step 0: the episode ends with step 1, so unroll step 2 is past a termination
    check(0, 0, [r[0, 0], r[1, 0]], [1, 1], [v[0, 0], v[1, 0], 0], [1, 1, 1], [1, 1, 0])
    # ... from step 1: only unroll step 0 is in the episode; after it, zeros that count
    check(1, 0, [r[1, 0], 0], [1, 1], [v[1, 0], 0, 0], [1, 1, 1], [1, 0, 0])
    # env 1, truncated at step 1: the same steps, but past the end nothing counts
    check(0, 1, [r[0, 1], r[1, 1]], [1, 1], [v[0, 1], v[1, 1], 0], [1, 1, 0], [1, 1, 0])
    check(1, 1, [r[1, 1], 0], [1, 0], [v[1, 1], 0, 0], [1, 0, 0], [1, 0, 0])
    # env 2: the first end (a termination at step 0) decides, not the truncation after it
    check(0, 2, [r[0, 2], 0], [1, 1], [v[0, 2], 0, 0], [1, 1, 1], [1, 0, 0])
    # ... and from step 1 the new episode's truncation at step 2 masks unroll step 2
    check(1, 2, [r[1, 2], r[2, 2]], [1, 1], [v[1, 2], v[2, 2], 0], [1, 1, 0], [1, 1, 0])


# ---- the loss ---------------------------------------------------------------------------------


NETWORK = mz.MuZeroNet(2, (8,), latent_size=4, value_scale=2.0)


def zero_params(network: mz.MuZeroNet, obs_size: int):
    """Every parameter of `network` 0, as numpy arrays (no compilation: flax's init with its
    orthogonal matrices, and jnp ops run one by one, each compile for a second or more here)."""
    shapes = jax.eval_shape(
        network.init, jax.random.key(0), jnp.zeros((1, obs_size)), jnp.zeros(1, int)
    )
    return jax.tree.map(lambda x: np.zeros(x.shape, np.float32), shapes)


def random_params(seed: int):
    """Every parameter of NETWORK drawn from N(0, 0.5^2), with numpy's generator."""
    rng = np.random.default_rng(seed)
    draw = lambda x: (0.5 * rng.standard_normal(x.shape)).astype(np.float32)  # noqa: E731
    return jax.tree.map(draw, zero_params(NETWORK, 3))


LOSS = jax.jit(functools.partial(mz.muzero_loss, NETWORK))


@jax.jit
def unrolled(params, obs, actions):
    """NETWORK's latents, predictions and rewards along the actions, one `apply` at a time: the
    loss's unroll written out. obs (B, 3), actions (B, K)."""
    latent = NETWORK.apply(params, obs, method=mz.MuZeroNet.represent)
    steps = []
    for k in range(actions.shape[1] + 1):
        logits, value = NETWORK.apply(params, latent, method=mz.MuZeroNet.predict)
        steps.append({"latent": latent, "logits": logits, "value": value})
        if k < actions.shape[1]:
            reward, latent = NETWORK.apply(
                params, latent, actions[:, k], method=mz.MuZeroNet.dynamics
            )
            steps[-1]["reward_next"] = reward
    return steps


def two_unrolls() -> mz.UnrollSample:
    """K = 2, A = 2: the first sample counts everything but the last policy, the second only
    its first value."""
    return mz.UnrollSample(
        obs=np.array([[0.1, -0.2, 0.3], [1.0, 0.5, -1.0]]),
        actions=np.array([[0, 1], [1, 1]], np.int32),
        rewards=np.array([[1.0, 0.0], [5.0, 5.0]]),
        values=np.array([[2.0, 4.0, 0.0], [10.0, 10.0, 10.0]]),
        policies=np.array([[[1.0, 0.0], [0.5, 0.5], [1.0, 0.0]]] * 2),
        reward_mask=np.array([[1.0, 1.0], [0.0, 0.0]]),
        value_mask=np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]),
        policy_mask=np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    )


def test_the_loss_of_a_zeroed_network_by_hand():
    """Every parameter 0: latent states are constant (min-max scaled to 0), the prior is uniform
    (cross-entropy log 2 for any target), values and rewards are 0; weights 1, 1/2, 1/2."""
    params = zero_params(NETWORK, 3)
    loss, m = LOSS(params, two_unrolls(), 0.1)
    # sample 0: value (2/2)^2 + (4/2)^2 / 2 + 0 = 3; policy log 2 (1 + 1/2); reward 1/2 + 0
    # sample 1: value (10/2)^2 = 25, the rest masked
    np.testing.assert_allclose(m["value_loss"], (3 + 25) / 2, rtol=1e-6)
    np.testing.assert_allclose(m["policy_loss"], 1.5 * np.log(2) / 2, rtol=1e-6)
    np.testing.assert_allclose(m["reward_loss"], 0.5 / 2, rtol=1e-6)
    np.testing.assert_allclose(loss, 14 + 0.75 * np.log(2) + 0.25, rtol=1e-6)  # l2 = 0


def test_the_loss_is_the_written_out_sum_over_the_unroll():
    """On a random network: the unroll follows the stored actions through the dynamics, and the
    loss is sum_k w_k (masked value, policy and reward terms), mean over the batch, + c l2."""
    params = random_params(3)
    batch = two_unrolls()
    loss, m = LOSS(params, batch, 0.01)
    steps = jax.tree.map(np.asarray, unrolled(params, batch.obs, batch.actions))
    expected = []
    for b in range(2):
        total = 0.0
        for k, step in enumerate(steps):
            # latent states are min-max scaled: 0 .. 1 over their width
            assert step["latent"][b].min() == 0.0 and step["latent"][b].max() == pytest.approx(1)
            w = 1.0 if k == 0 else 0.5
            logits, value = step["logits"][b], step["value"][b]
            log_p = logits - np.log(np.exp(logits).sum())
            total += w * batch.value_mask[b, k] * ((batch.values[b, k] - value) / 2.0) ** 2
            total -= w * batch.policy_mask[b, k] * (batch.policies[b, k] * log_p).sum()
            if k < 2:
                reward = step["reward_next"][b]
                total += 0.5 * batch.reward_mask[b, k] * (batch.rewards[b, k] - reward) ** 2
        expected.append(total)
    l2 = sum(float((np.asarray(w) ** 2).sum()) for w in jax.tree.leaves(params))
    np.testing.assert_allclose(m["l2"], l2, rtol=1e-5)
    np.testing.assert_allclose(loss, np.mean(expected) + 0.01 * l2, rtol=1e-5)


def test_the_gradient_into_each_dynamics_step_is_halved():
    x = jnp.array([1.0, -2.0, 3.0])
    scaled, grad = jax.jit(
        jax.value_and_grad(lambda x: jnp.sum(jnp.square(mz.scale_gradient(x, 0.5))))
    )(x)
    np.testing.assert_allclose(grad, x)  # half of 2x
    np.testing.assert_allclose(scaled, 14.0)  # the value is unchanged: 1 + 4 + 9
    params = random_params(0)
    # the representation's gradient through K = 2 dynamics steps of a reward-only loss: the
    # second reward's path crosses two halving points, so its gradient is 1/4 of the unscaled
    actions = jnp.array([[0, 1]], jnp.int32)

    def second_reward(params, scale):
        latent = NETWORK.apply(params, x[None], method=mz.MuZeroNet.represent)
        for k in range(2):
            latent = mz.scale_gradient(latent, scale)
            reward, latent = NETWORK.apply(
                params, latent, actions[:, k], method=mz.MuZeroNet.dynamics
            )
        return reward[0]

    grad = jax.jit(jax.vmap(jax.grad(second_reward), in_axes=(None, 0)))(
        params, jnp.array([0.5, 1.0])
    )
    halved, whole = grad["params"]["representation_out"]["kernel"]
    np.testing.assert_allclose(halved, whole / 4, rtol=1e-5, atol=1e-8)


# ---- the mctx wiring --------------------------------------------------------------------------


def hand_set_model(rewarded_action: int, num_actions: int = 3):
    """A MuZeroNet without hidden layers whose dynamics pay 1 for `rewarded_action` and 0 for
    the others, whose prior is uniform and whose values are 0: the search's values are the
    model's rewards alone."""
    network = mz.MuZeroNet(num_actions, (), latent_size=2, value_scale=1.0)
    params = zero_params(network, 2)
    layers = params["params"]
    # the reward head reads [latent (2), one_hot(action) (A)]
    layers["reward_head"]["kernel"][2 + rewarded_action, 0] = 1.0
    # a representation and dynamics that keep the latent informative (not constant)
    layers["representation_out"]["kernel"][:] = np.eye(2)
    layers["dynamics_out"]["kernel"][:] = 1.0
    layers["dynamics_out"]["kernel"][0, 0] = 2.0
    return network, params


@functools.cache
def wiring_program(policy: str):
    def run(params, obs, gamma):
        network, _ = hand_set_model(1)
        return mz.search(network, params, jax.random.key(1), obs, 48, gamma=gamma, policy=policy)

    return jax.jit(run)


@pytest.mark.parametrize(
    "policy", ["gumbel", pytest.param("puct", marks=pytest.mark.slow)]
)  # puct's program compiles for several seconds more: the slow tier
def test_the_search_plays_the_action_the_learned_model_rewards_and_discounts_every_edge(policy):
    for rewarded in (1, 2):
        _, params = hand_set_model(rewarded)
        obs = jnp.array([[0.5, -0.5], [2.0, 1.0]])  # a batch of 2 roots
        out = wiring_program(policy)(params, obs, jnp.float32(0.5))
        np.testing.assert_array_equal(out.action, [rewarded, rewarded])
        tree = out.search_tree
        q = np.asarray(tree.summary().qvalues)  # (2, 3)
        assert (q[:, rewarded] > np.delete(q, rewarded, axis=1).max(axis=1)).all(), q
        # every expanded edge carries the model's reward and the discount gamma: no terminals
        expanded = np.asarray(tree.children_index) >= 0
        rewards = np.asarray(tree.children_rewards)[expanded]
        actions = np.broadcast_to(np.arange(3), expanded.shape)[expanded]
        np.testing.assert_array_equal(rewards, (actions == rewarded).astype(np.float32))
        np.testing.assert_array_equal(np.asarray(tree.children_discounts)[expanded], 0.5)
        assert np.asarray(out.action_weights)[:, rewarded].min() > 0.5


# ---- config -----------------------------------------------------------------------------------


def test_bad_settings_are_refused_in_one_line_and_env_options_are_allowed():
    cases = [
        ({"unroll_steps": 17}, "unroll_steps=17: must be in 1 .. num_steps = 16"),
        ({"unroll_steps": 0}, "unroll_steps=0: must be in 1 .. num_steps = 16"),
        ({"latent_size": 1}, "latent_size=1: must be >= 2"),
        ({"env_id": "Pendulum-v1"}, "env_id='Pendulum-v1': muzero searches single-agent"),
        ({"value_scale": 0.0}, "value_scale=0.0: "),
    ]
    for fields, message in cases:
        with pytest.raises(ConfigError) as error:
            mz.Config(**fields).validate()
        assert message in str(error.value) and "\n" not in str(error.value)
    # the learned model reads whatever the env shows: options that change it are fine
    spec = mz.Config(env_options=("obs_keep=0,2",)).validate()
    assert spec.observation_space.shape == (2,)
