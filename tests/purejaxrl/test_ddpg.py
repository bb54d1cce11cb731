"""DDPG / TD3: smoothing and action bounds, probe environments, seeds, bad input, (slow) Pendulum."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces

from purejaxrl import envs, registry, runner
from purejaxrl.config import ConfigError, hparams
from purejaxrl.ddpg import (
    DDPGConfig,
    make_learner,
    make_networks,
    make_train,
    smoothed_target_action,
    to_env_action,
)


def test_target_policy_smoothing_stays_within_the_clip_and_the_action_bounds():
    keys = jax.random.split(jax.random.key(0), 200)
    targets = jax.random.uniform(jax.random.key(1), (200, 3), minval=-1.0, maxval=1.0)
    for std, clip in [(0.2, 0.5), (5.0, 0.5), (5.0, 2.0), (0.0, 0.5)]:
        smoothed = jax.vmap(smoothed_target_action, in_axes=(0, 0, None, None))(
            keys, targets, std, clip
        )
        assert np.all(np.abs(smoothed) <= 1.0)
        assert np.all(np.abs(smoothed - targets) <= clip + 1e-6)
        if std == 0.0:
            np.testing.assert_allclose(smoothed, targets)
        else:
            assert np.abs(smoothed - targets).max() > 0.1 * min(clip, std)


def test_normalised_actions_map_onto_the_box_and_never_leave_it():
    space = spaces.Box(jnp.array([-2.0, 0.0]), jnp.array([2.0, 1.0]), (2,))
    np.testing.assert_allclose(to_env_action(jnp.array([-1.0, -1.0]), space), [-2.0, 0.0])
    np.testing.assert_allclose(to_env_action(jnp.array([1.0, 1.0]), space), [2.0, 1.0])
    np.testing.assert_allclose(to_env_action(jnp.array([0.0, 0.5]), space), [0.0, 0.75])
    wild = 10.0 * jax.random.normal(jax.random.key(0), (1000, 2))
    mapped = to_env_action(wild, space)
    assert np.all(mapped >= space.low) and np.all(mapped <= space.high)


@pytest.mark.parametrize("noise", ["gaussian", "ou"])
def test_every_action_given_to_the_env_is_inside_the_action_space(noise):
    """Over random networks and exploration noise up to 5x the action range, every stored action
    is a normalised action in [-1, 1], which `to_env_action` maps into the env's bounds (on
    Pendulum, [-2, 2]; the map itself, for any box, is the test above)."""
    env_id = "Pendulum-v1"
    space = envs.make_batched(env_id, 1).action_space
    config = DDPGConfig(
        env_id=env_id, noise=noise, total_timesteps=400, steps_per_update=200, learning_starts=100,
        batch_size=32, buffer_size=400, num_envs=2, train_frequency=2, hidden_sizes=(16,),
    )  # fmt: skip
    train = jax.jit(jax.vmap(make_train(config), in_axes=(0, None)))
    for scale in (0.0, 0.5, 5.0):
        hp = hparams(config)._replace(exploration_noise=jnp.float32(scale))
        out = train(jax.random.split(jax.random.key(int(scale * 10)), 4), hp)
        actions = np.asarray(out.state.buffer.data.action)  # (seed, slot, action_dim)
        assert np.all(np.abs(actions) <= 1.0)
        env_actions = to_env_action(jnp.asarray(actions), space)
        assert np.all(env_actions >= space.low) and np.all(env_actions <= space.high)
        if scale == 5.0:  # the clip is exercised: many actions sit on the bounds
            assert np.mean(np.abs(actions) == 1.0) > 0.3


PROBE_CONFIG = {**registry.get("ddpg").probe, "progress": False, "compilation_cache": ""}


def train_probe(env_id: str, **overrides):
    """(Q(o, a) for observation values o and actions a, mu(o)) after training on the probe."""
    config = DDPGConfig(env_id=env_id, **{**PROBE_CONFIG, **overrides})
    config.validate()
    out = jax.jit(make_train(config))(jax.random.key(0), hparams(config))
    actor, critic = make_networks(config, 1)
    first_critic = jax.tree.map(lambda x: x[0], out.state.params.critic)

    def q(obs_value: float, action: float) -> float:
        return float(critic.apply(first_critic, jnp.array([obs_value]), jnp.array([action])))

    def mu(obs_value: float) -> float:
        return float(actor.apply(out.state.params.actor, jnp.array([obs_value]))[0])

    return q, mu


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("td3", [False, True])
def test_critic_values_on_the_value_probes(td3):
    q, _ = train_probe("Probe-ConstantContinuous-v0", td3=td3)
    assert q(0.0, 0.3) == pytest.approx(1.0, abs=0.1)
    q, _ = train_probe("Probe-ObsRewardContinuous-v0", td3=td3)
    assert q(1.0, 0.0) == pytest.approx(1.0, abs=0.1)
    assert q(-1.0, 0.0) == pytest.approx(-1.0, abs=0.1)
    q, _ = train_probe("Probe-TwoStepContinuous-v0", td3=td3)
    assert q(0.0, 0.0) == pytest.approx(0.9, abs=0.1)  # gamma * 1
    assert q(1.0, 0.0) == pytest.approx(1.0, abs=0.1)


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("td3", [False, True])
def test_actor_and_critic_on_the_action_probes(td3):
    q, mu = train_probe("Probe-ActionRewardContinuous-v0", td3=td3)
    assert mu(0.0) == pytest.approx(0.5, abs=0.1)
    for a in (-0.5, 0.0, 0.5, 1.0):  # reward 1 - (a - 0.5)^2, one step
        assert q(0.0, a) == pytest.approx(1.0 - (a - 0.5) ** 2, abs=0.15)
    q, mu = train_probe("Probe-ObsActionRewardContinuous-v0", td3=td3)
    assert mu(1.0) == pytest.approx(0.5, abs=0.1)
    assert mu(-1.0) == pytest.approx(-0.5, abs=0.1)


TINY = DDPGConfig(
    total_timesteps=600, steps_per_update=200, learning_starts=200, batch_size=32,
    buffer_size=600, hidden_sizes=(16, 16), progress=False, compilation_cache="",
)  # fmt: skip


def test_td3_has_twin_critics_and_gradient_steps_start_after_learning_starts():
    config = dataclasses.replace(TINY, td3=True)
    out = jax.jit(make_train(config))(jax.random.key(0), hparams(config))
    assert out.state.params.critic["params"]["Dense_0"]["kernel"].shape[0] == 2  # twin
    # One gradient step per 4 env steps, from the first phase that ends past learning_starts = 200
    # steps (the second update's first phase: the first update is 200 steps).
    np.testing.assert_array_equal(out.metrics["gradient_steps"], [0, 50, 50])


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"env_id": "CartPole-v1"}, "env_id='CartPole-v1': DDPG needs a continuous (Box) action space"),
        ({"tau": 0.0}, "tau=0.0: must be a finite number in (0.0, 1.0]"),
        ({"tau": 1.5}, "tau=1.5: must be a finite number in (0.0, 1.0]"),
        ({"exploration_noise": -0.1}, "exploration_noise=-0.1: must be a finite number in [0.0, inf]"),
        ({"target_noise": -1.0}, "target_noise=-1.0: must be a finite number in [0.0, inf]"),
        ({"batch_size": 700}, "batch_size=700: must be <= buffer_size=600"),
        ({"ou_theta": 0.0}, "ou_theta=0.0: must be a finite number in (0.0, 1.0]"),
        ({"learning_starts": 600}, "learning_starts=600: must be in [0, 600) (the budget in whole updates)"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_the_value_and_what_is_allowed(overrides, message):
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(TINY, **overrides).validate()
    assert message in str(error.value)


@pytest.mark.learning
@pytest.mark.parametrize("td3", [False, True], ids=["ddpg", "td3"])
def test_pendulum_at_50k_steps_over_8_seeds(td3):
    config = DDPGConfig(num_seeds=8, td3=td3, progress=False, compilation_cache="")
    result = runner.run(config, make_learner, "ddpg", write=False)
    final = result.summary["results"][0]["final_return_mean"]
    assert final >= -250, result.summary["results"]
