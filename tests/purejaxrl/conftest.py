"""Checks shared by the algorithm tests.

Probe checks for the actor-critic algorithms (PPO, A2C, REINFORCE). What every algorithm
promises (seeds, grid, chunks, resume, bad input) is checked once for every registry row in
test_contract.py.

The `actor_critic_probes` fixture trains an algorithm module on a probe environment (see
envs/probes.py) and checks the values and policies every correct actor-critic must learn there.
"""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import pytest

from purejaxrl import envs
from purejaxrl.config import hparams
from purejaxrl.networks import make_actor_critic


def train_probe(module, env_id: str, settings: dict):
    """Trains `module` (ppo, a2c, reinforce) on a probe; returns evaluate(obs value) -> (dist, V)."""
    config = module.Config(env_id=env_id, **settings)
    config.validate()
    out = jax.jit(module.make_train(config))(jax.random.key(0), hparams(config))
    network = make_actor_critic(config, envs.spec(env_id))

    def evaluate(obs_value: float):
        dist, value = network.apply(out.state.params, jnp.array([[obs_value]], jnp.float32))
        return dist, float(value[0])

    return evaluate


def check_values(module, settings: dict, suffix: str, gamma: float, tol: float = 0.1) -> None:
    """V = 1 on Constant, V(o) = o on ObsReward, V = (gamma, 1) on TwoStep."""
    evaluate = train_probe(module, f"Probe-Constant{suffix}-v0", settings)
    assert evaluate(0.0)[1] == pytest.approx(1.0, abs=tol)
    evaluate = train_probe(module, f"Probe-ObsReward{suffix}-v0", settings)
    assert evaluate(1.0)[1] == pytest.approx(1.0, abs=tol)
    assert evaluate(-1.0)[1] == pytest.approx(-1.0, abs=tol)
    evaluate = train_probe(module, f"Probe-TwoStep{suffix}-v0", settings)
    assert evaluate(0.0)[1] == pytest.approx(gamma, abs=tol)
    assert evaluate(1.0)[1] == pytest.approx(1.0, abs=tol)


def check_discrete_policies(module, settings: dict, check_value: bool = True) -> None:
    """Action 1 on ActionReward (V = 1); the action matching the sign on ObsActionReward."""
    dist, value = train_probe(module, "Probe-ActionReward-v0", settings)(0.0)
    assert float(jax.nn.softmax(dist.logits)[0, 1]) > 0.9
    if check_value:
        assert value == pytest.approx(1.0, abs=0.15)
    evaluate = train_probe(module, "Probe-ObsActionReward-v0", settings)
    assert float(jax.nn.softmax(evaluate(1.0)[0].logits)[0, 1]) > 0.9
    assert float(jax.nn.softmax(evaluate(-1.0)[0].logits)[0, 0]) > 0.9


def check_continuous_policies(module, settings: dict) -> None:
    """Mean action 0.5 on ActionRewardContinuous; obs / 2 on ObsActionRewardContinuous."""
    evaluate = train_probe(module, "Probe-ActionRewardContinuous-v0", settings)
    assert float(evaluate(0.0)[0].mean[0, 0]) == pytest.approx(0.5, abs=0.15)
    evaluate = train_probe(module, "Probe-ObsActionRewardContinuous-v0", settings)
    assert float(evaluate(1.0)[0].mean[0, 0]) == pytest.approx(0.5, abs=0.15)
    assert float(evaluate(-1.0)[0].mean[0, 0]) == pytest.approx(-0.5, abs=0.15)


@pytest.fixture
def actor_critic_probes():
    return SimpleNamespace(
        train=train_probe,
        values=check_values,
        discrete_policies=check_discrete_policies,
        continuous_policies=check_continuous_policies,
    )
