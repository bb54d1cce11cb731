"""REINFORCE and A2C: probe environments, seeds, masking, bad input, (slow) CartPole learning."""

import dataclasses

import numpy as np
import pytest

from purejaxrl import a2c, registry, reinforce, runner
from purejaxrl.config import ConfigError

REINFORCE_PROBES = dict(registry.get("reinforce").probe)
A2C_PROBES = dict(registry.get("a2c").probe)


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("suffix", ["", "Continuous"])
def test_reinforce_value_baseline_on_the_value_probes(actor_critic_probes, suffix):
    actor_critic_probes.values(reinforce, REINFORCE_PROBES, suffix, gamma=0.9)


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("baseline", ["none", "mean", "value"])
def test_reinforce_policies_on_the_action_probes(actor_critic_probes, baseline):
    settings = {**REINFORCE_PROBES, "baseline": baseline}
    actor_critic_probes.discrete_policies(reinforce, settings, check_value=baseline == "value")


@pytest.mark.learning  # trains on a probe env
def test_reinforce_continuous_policies(actor_critic_probes):
    actor_critic_probes.continuous_policies(reinforce, REINFORCE_PROBES)


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("suffix", ["", "Continuous"])
def test_a2c_value_probes(actor_critic_probes, suffix):
    actor_critic_probes.values(a2c, A2C_PROBES, suffix, gamma=0.9)


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("advantage,shared", [("nstep", False), ("gae", True)])
def test_a2c_policy_probes(actor_critic_probes, advantage, shared):
    settings = {**A2C_PROBES, "advantage": advantage, "shared_torso": shared}
    actor_critic_probes.discrete_policies(a2c, settings)
    actor_critic_probes.continuous_policies(a2c, settings)


def test_reinforce_uses_the_episodes_that_start_in_the_window_each_to_its_end():
    config = reinforce.ReinforceConfig(total_timesteps=8 * 1000 * 2, num_seeds=2)
    result = runner.run(config, reinforce.make_learner, "reinforce", write=False)
    transitions = result.metrics["transitions"]  # (grid, seed, update)
    # Each env plays 500 + 500 steps; the kept episodes start before step 500 and run to their
    # end, so they cover at least the first 500 steps of every env and never all 1000.
    assert np.all(transitions >= 8 * 500) and np.all(transitions < 8 * 1000)
    lengths = result.metrics["episode_length"] * result.metrics["episodes"]
    np.testing.assert_allclose(lengths, transitions, rtol=1e-5)  # statistics of kept episodes


def test_discounted_weights_change_the_estimate_only_when_gamma_is_below_1():
    """--discount-weights multiplies each weight by gamma^k (k: steps into the episode); the
    estimator's unbiasedness is checked in test_policy_gradients.py."""
    import jax

    from purejaxrl.config import hparams

    def gradients(discount_weights: bool) -> dict[float, np.ndarray]:
        config = reinforce.ReinforceConfig(
            env_id="Probe-TwoStep-v0", num_envs=4, num_steps=2, baseline="none",
            normalize=False, discount_weights=discount_weights,
        )  # fmt: skip
        estimate = jax.jit(reinforce.make_gradient_estimator(config))
        params = reinforce.make_actor_critic(config, config.env_spec()).init(
            jax.random.key(0), np.zeros((1, 1), np.float32)
        )
        out = {}
        for gamma in (1.0, 0.5):
            hp = hparams(config)._replace(gamma=np.float32(gamma))
            grads, _ = estimate(params, np.float32(0.0), jax.random.key(1), hp)
            out[gamma] = np.concatenate([np.ravel(g) for g in jax.tree.leaves(grads)])
        return out

    discounted, plain = gradients(True), gradients(False)
    np.testing.assert_allclose(discounted[1.0], plain[1.0], rtol=1e-6)
    assert not np.allclose(discounted[0.5], plain[0.5])
    with pytest.raises(ConfigError, match="discount_weights=True: needs --returns reward_to_go"):
        reinforce.ReinforceConfig(returns="total", discount_weights=True).validate()


def test_actor_critics_refuse_tabular_observations():
    for module in (reinforce, a2c):
        with pytest.raises(ConfigError, match="needs vector \\(Box\\) observations"):
            module.Config(env_id="Gridworld-Maze-v0").validate()


@pytest.mark.parametrize(
    "module,overrides,message",
    [
        (reinforce, {"num_steps": -1}, "num_steps=-1: must be >= 0 (0: the episode limit)"),
        (reinforce, {"total_timesteps": 1000}, "total_timesteps=1000: must be >= num_envs * (num_steps"),
        (reinforce, {"baseline_decay": 1.5}, "baseline_decay=1.5: must be a finite number in [0.0, 1.0]"),
        (a2c, {"gae_lambda": -0.5}, "gae_lambda=-0.5: must be a finite number in [0.0, 1.0]"),
        (a2c, {"lr": 0.0}, "lr=0.0: must be a finite number in (0.0, inf]"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_the_value_and_what_is_allowed(module, overrides, message):
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(module.Config(), **overrides).validate()
    assert message in str(error.value)


@pytest.mark.learning
def test_reinforce_with_a_learned_baseline_on_cartpole_at_1m_steps_over_8_seeds():
    config = reinforce.ReinforceConfig(num_seeds=8, progress=False, compilation_cache="")
    result = runner.run(config, reinforce.make_learner, "reinforce", write=False)
    assert result.summary["results"][0]["final_return_mean"] >= 450, result.summary["results"]


@pytest.mark.learning
def test_a2c_on_cartpole_at_500k_steps_over_8_seeds():
    config = a2c.A2CConfig(num_seeds=8, progress=False, compilation_cache="")
    result = runner.run(config, a2c.make_learner, "a2c", write=False)
    assert result.summary["results"][0]["final_return_mean"] >= 450, result.summary["results"]
