"""PPO: probe environments, seeds, grids and (slow) CartPole learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import ppo, registry, runner
from purejaxrl.config import hparams
from purejaxrl.ppo import PPOConfig, make_learner

PROBE_CONFIG = dict(registry.get("ppo").probe)


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("suffix", ["", "Continuous"])
def test_value_probes(actor_critic_probes, suffix):
    actor_critic_probes.values(ppo, PROBE_CONFIG, suffix, gamma=0.9)


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("loss", ["clip", "kl"])
def test_discrete_policy_probes(actor_critic_probes, loss):
    actor_critic_probes.discrete_policies(ppo, {**PROBE_CONFIG, "loss": loss})


@pytest.mark.learning  # trains on a probe env
def test_continuous_policy_probes(actor_critic_probes):
    actor_critic_probes.continuous_policies(ppo, PROBE_CONFIG)


@pytest.mark.learning
def test_ppo_solves_cartpole_at_500k_steps_over_8_seeds():
    config = PPOConfig(num_seeds=8, progress=False, compilation_cache="")
    result = runner.run(config, make_learner, "ppo", write=False)
    final = result.summary["results"][0]["final_return_mean"]
    assert final >= 475, result.summary["results"]


@pytest.mark.parametrize("loss", ["clip", "kl"])
def test_invalid_steps_carry_no_weight_in_the_loss(loss):
    """envpool's dummy reset steps (valid False) change neither the loss nor its gradient."""
    from purejaxrl.distributions import Categorical
    from purejaxrl.networks import ActorCritic

    config = PPOConfig(loss=loss)
    network = ActorCritic(3, discrete=True)
    keys = jax.random.split(jax.random.key(0), 8)
    n, junk = 12, 5
    obs = jax.random.normal(keys[0], (n + junk, 4))
    params = network.init(keys[1], obs)
    batch = ppo.Batch(
        obs=obs,
        action=jax.random.randint(keys[2], (n + junk,), 0, 3),
        log_prob=jnp.log(jax.random.uniform(keys[3], (n + junk,), minval=0.2, maxval=0.5)),
        value=jax.random.normal(keys[4], (n + junk,)),
        dist=Categorical(jax.random.normal(keys[5], (n + junk, 3))),
        advantage=jax.random.normal(keys[6], (n + junk,)).at[n:].set(1e3),  # junk is extreme
        target=jax.random.normal(keys[7], (n + junk,)).at[n:].set(-1e3),
        valid=jnp.arange(n + junk) < n,
    )
    hp = hparams(config)
    grad = jax.grad(ppo.ppo_loss, argnums=1, has_aux=True)
    masked, masked_metrics = grad(network, params, batch, hp, 0.5, config)
    valid_only = jax.tree.map(lambda x: x[:n], batch)
    expected, expected_metrics = grad(network, params, valid_only, hp, 0.5, config)
    for got, want in zip(jax.tree.leaves(masked), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    for name, want in expected_metrics.items():
        np.testing.assert_allclose(masked_metrics[name], want, rtol=1e-4, atol=1e-6)
