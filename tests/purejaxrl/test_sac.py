"""SAC: targets and losses by hand, probe environments (both forms), seeds and grids, bad input,
and (slow) Pendulum. The squashed Gaussian's tests are in test_networks.py."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import registry, runner
from purejaxrl.config import ConfigError, hparams
from purejaxrl.sac import (
    SACConfig,
    actor_loss,
    discrete_soft_q_target,
    make_learner,
    make_networks,
    make_train,
    soft_q_loss,
    soft_q_target,
    temperature_loss,
)


def test_soft_targets_by_hand():
    r = jnp.array([1.0, 0.5, -1.0])
    terminated = jnp.array([0.0, 1.0, 0.0])
    # continuous: r + gamma (1 - d) (min Q' - alpha log pi)
    y = soft_q_target(
        r, terminated, 0.9, jnp.array([2.0, 7.0, 0.0]), jnp.array([-1.0, 3.0, 0.5]), 0.2
    )
    np.testing.assert_allclose(
        y, [1.0 + 0.9 * (2.0 + 0.2), 0.5, -1.0 + 0.9 * (0.0 - 0.1)], rtol=1e-6
    )
    # discrete: the soft value sum_a pi(a) (Q'(a) - alpha log pi(a)), exact over two actions
    q_next = jnp.array([[1.0, 3.0], [0.0, 0.0], [2.0, -2.0]])
    probs = jnp.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]])
    y = discrete_soft_q_target(r, terminated, 0.9, q_next, probs, 0.5)
    v0 = 0.25 * (1.0 - 0.5 * np.log(0.25)) + 0.75 * (3.0 - 0.5 * np.log(0.75))
    np.testing.assert_allclose(y, [1.0 + 0.9 * v0, 0.5, -1.0 + 0.9 * 2.0], rtol=1e-5)


def test_losses_by_hand_and_what_they_differentiate():
    q = jnp.array([[1.0, 2.0], [3.0, 0.0]])  # (critic, batch)
    target = jnp.array([2.0, 2.0])
    assert float(soft_q_loss(q, target)) == pytest.approx(0.5 * (0.5 + 2.5))
    assert np.all(np.asarray(jax.grad(soft_q_loss, argnums=1)(q, target)) == 0)  # target fixed
    log_pi, q_min = jnp.array([-1.0, 0.5]), jnp.array([2.0, 1.0])
    assert float(actor_loss(log_pi, q_min, 0.2)) == pytest.approx(((-0.2 - 2.0) + (0.1 - 1.0)) / 2)
    assert float(jax.grad(actor_loss, argnums=2)(log_pi, q_min, 0.2)) == 0.0  # alpha fixed
    log_probs = jnp.log(jnp.array([[0.2, 0.8]]))
    expected = 0.2 * (0.1 * np.log(0.2) - 1.0) + 0.8 * (0.1 * np.log(0.8) - 4.0)
    got = actor_loss(log_probs, jnp.array([[1.0, 4.0]]), 0.1, jnp.exp(log_probs))
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # temperature: entropy (1.0 here) below the target (2.0) -> gradient descent raises alpha
    grad = jax.grad(temperature_loss)(jnp.log(0.5), jnp.array([-1.0, -1.0]), 2.0)
    assert float(grad) == pytest.approx(-0.5 * (-1.0 + 2.0))
    assert float(jax.grad(temperature_loss)(jnp.log(0.5), jnp.array([-3.0]), 2.0)) > 0


PROBE = {**registry.get("sac").probe, "progress": False, "compilation_cache": ""}


def train_probe(env_id: str, **overrides):
    """(q(obs, action) -> min over critics, policy(obs) -> mode) after training on a probe."""
    config = SACConfig(env_id=env_id, **{**PROBE, **overrides})
    spec = config.validate()
    out = jax.jit(make_train(config))(jax.random.key(0), hparams(config))
    actor, critic = make_networks(config, spec)
    params = out.state.params

    def q(obs_value, action):
        obs = jnp.array([[obs_value]])
        if spec.discrete_actions:
            values = jax.vmap(critic.apply, in_axes=(0, None))(params.critic, obs)
            return float(values.min(0)[0, action])
        values = jax.vmap(critic.apply, in_axes=(0, None, None))(
            params.critic, obs, jnp.array([[action]])
        )
        return float(values.min(0)[0])

    def policy(obs_value):
        out = actor.apply(params.actor, jnp.array([[obs_value]]))
        if spec.discrete_actions:
            return np.asarray(jax.nn.softmax(out)[0])
        return float(jnp.tanh(out[0])[0, 0])

    return q, policy


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("suffix", ["", "Continuous"])
def test_value_probes(suffix):
    """Q of the action the policy takes (actions are equivalent here; with a near-deterministic
    policy the other discrete action is rarely tried, so its value is learnt last)."""
    for env_id, expected in [
        ("Probe-Constant", {0.0: 1.0}),
        ("Probe-ObsReward", {1.0: 1.0, -1.0: -1.0}),
        ("Probe-TwoStep", {0.0: 0.9, 1.0: 1.0}),  # gamma * 1, then 1
    ]:
        q, policy = train_probe(f"{env_id}{suffix}-v0")
        for obs, value in expected.items():
            action = int(np.argmax(policy(obs))) if suffix == "" else policy(obs)
            assert q(obs, action) == pytest.approx(value, abs=0.1), (env_id, obs)


@pytest.mark.learning  # trains on a probe env
def test_policy_probes_discrete():
    q, policy = train_probe("Probe-ActionReward-v0")
    assert policy(0.0)[1] > 0.9
    assert q(0.0, 1) == pytest.approx(1.0, abs=0.1) and q(0.0, 0) == pytest.approx(0.0, abs=0.1)
    _, policy = train_probe("Probe-ObsActionReward-v0")
    assert policy(1.0)[1] > 0.9 and policy(-1.0)[0] > 0.9


@pytest.mark.learning  # trains on a probe env
def test_policy_probes_continuous():
    q, policy = train_probe("Probe-ActionRewardContinuous-v0")
    assert policy(0.0) == pytest.approx(0.5, abs=0.1)
    for a in (-0.5, 0.0, 0.5, 1.0):  # reward 1 - (a - 0.5)^2, one step
        assert q(0.0, a) == pytest.approx(1.0 - (a - 0.5) ** 2, abs=0.15)
    _, policy = train_probe("Probe-ObsActionRewardContinuous-v0")
    assert policy(1.0) == pytest.approx(0.5, abs=0.1)
    assert policy(-1.0) == pytest.approx(-0.5, abs=0.1)


def test_the_temperature_follows_the_entropy_target():
    """On a one-step bandit with rewards in [0, 1], a target entropy far above what the policy has
    raises alpha; one far below it lowers alpha."""
    base = dict(PROBE, autotune=True, initial_alpha=0.1, alpha_lr=1e-2, total_timesteps=2000)
    config = SACConfig(env_id="Probe-ActionRewardContinuous-v0", **base)
    train = jax.jit(make_train(config))
    high = train(
        jax.random.key(0), hparams(config)._replace(target_entropy_scale=jnp.float32(-2.0))
    )
    low = train(jax.random.key(0), hparams(config)._replace(target_entropy_scale=jnp.float32(5.0)))
    # scale -2: target +2 nats for one dimension, above any squashed Gaussian's -> alpha grows
    assert float(jnp.exp(high.state.params.log_alpha)) > 0.1 * 2
    assert float(jnp.exp(low.state.params.log_alpha)) < 0.1 / 2


TINY = SACConfig(
    total_timesteps=600, steps_per_update=200, learning_starts=200, batch_size=32,
    buffer_size=600, train_frequency=4, hidden_sizes=(16, 16), progress=False, compilation_cache="",
)  # fmt: skip


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "CartPole-v1"])
def test_both_forms_have_twin_critics_and_gradient_steps_start_after_learning_starts(env_id):
    config = dataclasses.replace(TINY, env_id=env_id)
    out = jax.jit(make_train(config))(jax.random.key(0), hparams(config))
    assert out.state.params.critic["params"]["Dense_0"]["kernel"].shape[0] == 2  # twin
    np.testing.assert_array_equal(out.metrics["gradient_steps"], [0, 50, 50])


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"env_id": "Gridworld-Maze-v0"}, "env_id='Gridworld-Maze-v0': this algorithm needs vector (Box) observations"),
        ({"tau": 0.0}, "tau=0.0: must be a finite number in (0.0, 1.0]"),
        ({"initial_alpha": 0.0}, "initial_alpha=0.0: must be a finite number in (0.0, inf]"),
        ({"alpha_lr": -1e-3}, "alpha_lr=-0.001: must be a finite number in (0.0, inf]"),
        ({"target_entropy_scale": float("nan")}, "target_entropy_scale=nan: must be a finite number"),
        ({"batch_size": 700}, "batch_size=700: must be <= buffer_size=600"),
        ({"learning_starts": 600}, "learning_starts=600: must be in [0, 600) (the budget in whole updates)"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_the_value_and_what_is_allowed(overrides, message):
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(TINY, **overrides).validate()
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.learning
def test_pendulum_at_20k_steps_over_8_seeds():
    config = SACConfig(num_seeds=8, progress=False, compilation_cache="")
    result = runner.run(config, make_learner, "sac", write=False)
    final = result.summary["results"][0]["final_return_mean"]
    assert final >= -250, result.summary["results"]


@pytest.mark.learning
def test_discrete_sac_learns_cartpole_at_the_default_entropy_target():
    """At the default discrete target (0.7 log 2 nats) the temperature stays below 1 and the
    return passes 150 within 1e4 env steps (measured beside the paper's target in one grid run:
    258 [189, 341], alpha 0.83-0.94). At Christodoulou's 0.98 log 2 (scale 1.4) that run ended at
    39 [34, 46] with alpha at 51-79 and climbing (about 5e5 by 4e4 steps): both assertions fail."""
    config = SACConfig(
        env_id="CartPole-v1", total_timesteps=10_000, num_seeds=4, progress=False,
        compilation_cache="",
    )  # fmt: skip
    result = runner.run(config, make_learner, "sac", write=False)
    final = result.summary["results"][0]["final_return_mean"]
    alpha = result.metrics["alpha"][0, :, -1]  # (seed,) at the end
    assert final >= 150, result.summary["results"]
    assert np.all(alpha < 2.0), alpha
