"""DQN: targets by hand, probe environments, seeds and grids, bad input, (slow) CartPole."""

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import envs, registry, runner
from purejaxrl.config import ConfigError, hparams
from purejaxrl.dqn import (
    DQNConfig,
    double_dqn_target,
    dqn_loss,
    dqn_target,
    make_learner,
    make_network,
    make_train,
)
from purejaxrl.networks import soft_update
from purejaxrl.replay import Transition

# Three transitions: neither terminated nor truncated, terminated, truncated (bootstraps).
REWARD = jnp.array([1.0, 2.0, 3.0])
TERMINATED = jnp.array([0.0, 1.0, 0.0])
Q_NEXT_TARGET = jnp.array([[1.0, 5.0], [2.0, 3.0], [4.0, 0.0]])
Q_NEXT_ONLINE = jnp.array([[3.0, 1.0], [0.0, 9.0], [1.0, 2.0]])


def test_dqn_target_by_hand():
    target = dqn_target(REWARD, TERMINATED, 0.9, Q_NEXT_TARGET)
    np.testing.assert_allclose(target, [1 + 0.9 * 5, 2.0, 3 + 0.9 * 4], rtol=1e-6)


def test_double_dqn_target_by_hand():
    # The online network picks actions 0, 1, 1; the target network values them 1, 3, 0.
    target = double_dqn_target(REWARD, TERMINATED, 0.9, Q_NEXT_TARGET, Q_NEXT_ONLINE)
    np.testing.assert_allclose(target, [1 + 0.9 * 1, 2.0, 3 + 0.9 * 0], rtol=1e-6)


def test_soft_update_by_hand():
    target = {"w": jnp.array([0.0, 10.0])}
    params = {"w": jnp.array([1.0, 20.0])}
    np.testing.assert_allclose(soft_update(target, params, 0.1)["w"], [0.1, 11.0], rtol=1e-6)
    np.testing.assert_allclose(soft_update(target, params, 1.0)["w"], [1.0, 20.0])


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("loss,delta", [("mse", 1.0), ("huber", 1.0), ("huber", 0.3)])
def test_loss_regresses_the_taken_action_on_the_target_and_only_the_online_network(
    double, loss, delta
):
    config = DQNConfig(
        env_id="Probe-ObsReward-v0", hidden_sizes=(8,), double=double, loss=loss, huber_delta=delta
    )
    network = make_network(config, envs.spec(config.env_id))
    obs = jnp.array([[1.0], [-1.0], [0.5]])
    params = network.init(jax.random.key(0), obs)
    target_params = network.init(jax.random.key(1), obs)
    batch = Transition(obs, jnp.array([0, 1, 1]), REWARD, -obs, TERMINATED.astype(bool),
                       jnp.array([False, False, True]))  # fmt: skip
    hp = hparams(config)
    value, metrics = dqn_loss(network, params, target_params, batch, hp, config)
    q = network.apply(params, obs)[jnp.arange(3), batch.action]
    q_next_target = network.apply(target_params, -obs)
    if double:
        y = double_dqn_target(REWARD, TERMINATED, 0.99, q_next_target, network.apply(params, -obs))
    else:
        y = dqn_target(REWARD, TERMINATED, 0.99, q_next_target)
    error = np.asarray(q - y)
    quad = np.minimum(np.abs(error), delta)
    huber = 0.5 * quad**2 + delta * (np.abs(error) - quad)
    expected = (error**2).mean() if loss == "mse" else huber.mean()
    assert float(value) == pytest.approx(expected, rel=1e-5)
    grads = jax.grad(lambda t: dqn_loss(network, params, t, batch, hp, config)[0])(target_params)
    assert all(np.all(g == 0) for g in jax.tree.leaves(grads))  # the target is held fixed


PROBE_CONFIG = {**registry.get("dqn").probe, "progress": False, "compilation_cache": ""}


def probe_q_values(env_id: str, observations: list[float], **overrides) -> np.ndarray:
    """Q(o, .) for each observation value o after training on the probe (uniform behaviour)."""
    config = DQNConfig(env_id=env_id, **{**PROBE_CONFIG, **overrides})
    config.validate()
    out = jax.jit(make_train(config))(jax.random.key(0), hparams(config))
    network = make_network(config, envs.spec(env_id))
    return np.asarray(network.apply(out.state.params, jnp.array(observations)[:, None]))


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("double", [False, True])
def test_value_probes(double):
    q = probe_q_values("Probe-Constant-v0", [0.0], double=double)
    np.testing.assert_allclose(q, 1.0, atol=0.05)
    q = probe_q_values("Probe-ObsReward-v0", [1.0, -1.0], double=double)
    np.testing.assert_allclose(q, [[1.0, 1.0], [-1.0, -1.0]], atol=0.05)
    q = probe_q_values("Probe-TwoStep-v0", [0.0, 1.0], double=double)
    np.testing.assert_allclose(q, [[0.9, 0.9], [1.0, 1.0]], atol=0.05)  # gamma * 1, then 1


@pytest.mark.learning  # trains on a probe env
def test_action_probes():
    q = probe_q_values("Probe-ActionReward-v0", [0.0])
    np.testing.assert_allclose(q, [[0.0, 1.0]], atol=0.05)
    q = probe_q_values("Probe-ObsActionReward-v0", [1.0, -1.0])
    np.testing.assert_allclose(q, [[0.0, 1.0], [1.0, 0.0]], atol=0.05)


TINY = DQNConfig(
    total_timesteps=2000, num_envs=4, buffer_size=500, batch_size=32, learning_starts=400,
    train_frequency=8, target_update_interval=96, steps_per_update=400, epsilon_anneal_steps=1000,
    progress=False, compilation_cache="",
)  # fmt: skip


def test_the_loss_is_reported_once_gradient_steps_start_after_learning_starts():
    out = jax.jit(make_train(TINY))(jax.random.key(0), hparams(TINY))
    loss = out.metrics["loss"]
    assert loss.shape == (TINY.num_updates,)
    assert np.isnan(loss[0]) and np.isfinite(loss[1:]).all()  # learning starts at 400
    np.testing.assert_array_equal(out.metrics["gradient_steps"], [0, 50, 50, 50, 50])


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"env_id": "Pendulum-v1"}, "env_id='Pendulum-v1': DQN needs a discrete action space"),
        ({"batch_size": 600}, "batch_size=600: must be <= buffer_size=500"),
        ({"epsilon_end": 0.5, "epsilon_start": 0.2}, "epsilon_end=0.5: must be a finite number in [0.0, 0.2]"),
        ({"epsilon_start": 1.5}, "epsilon_start=1.5: must be a finite number in [0.0, 1.0]"),
        ({"epsilon_anneal_steps": 0.0}, "epsilon_anneal_steps=0.0: must be a finite number in (0.0"),
        ({"train_frequency": 6}, "train_frequency=6: must be a positive multiple of num_envs=4"),
        ({"tau": 0.0}, "tau=0.0: must be a finite number in (0.0, 1.0]"),
        ({"steps_per_update": 300}, "steps_per_update=300: must be a positive multiple of train_frequency=8"),
        ({"target_update_interval": 4}, "target_update_interval=4: must be a positive multiple of train_frequency=8"),
        ({"learning_starts": 2000}, "learning_starts=2000: must be in [0, 2000) (the budget in whole updates)"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_the_value_and_what_is_allowed(overrides, message):
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(TINY, **overrides).validate()
    assert message in str(error.value)


def test_huber_below_the_return_scale_on_unclipped_rewards_warns_with_the_reason():
    """Huber with delta 1 on CartPole's unclipped rewards (returns up to ~99) diverged in every
    seed; delta near the return scale, or squared error, learned."""
    with pytest.warns(UserWarning, match="rewards are not clipped.*--loss mse or a --huber-delta"):
        DQNConfig(loss="huber").validate()
    with pytest.warns(UserWarning, match="huber_delta=10 on CartPole-v1"):
        DQNConfig(loss="huber", huber_delta=10.0).validate()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DQNConfig(loss="huber", huber_delta=100.0).validate()
        DQNConfig(loss="huber", huber_delta=2.0, gamma=0.5).validate()  # returns below 2
        DQNConfig().validate()


def test_huber_on_clipped_atari_rewards_is_the_papers_and_does_not_warn():
    pytest.importorskip("envpool")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DQNConfig(env_id="Pong-v5", loss="huber").validate()
    with pytest.warns(UserWarning, match="not clipped"):
        DQNConfig(env_id="Pong-v5", loss="huber", env_options=("reward_clip=False",)).validate()


@pytest.mark.learning
def test_dqn_solves_cartpole_at_500k_steps_over_8_seeds():
    """At its defaults (PureJaxRL's settings). XLA's CPU code differs between processors, so the
    last bits do too, and DQN's late collapses make the mean sensitive to them: this machine
    gives 483.5 at seed 0 (the one tested) and 499.0 at seed 1."""
    config = DQNConfig(num_seeds=8, progress=False, compilation_cache="")
    result = runner.run(config, make_learner, "dqn", write=False)
    final = result.summary["results"][0]["final_return_mean"]
    assert final >= 475, result.summary["results"]
