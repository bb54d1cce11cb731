"""Behaviour cloning: its losses by hand, the probe's rewarded actions cloned from a dataset of
them (discrete and continuous), and a hand-written CartPole expert cloned to its return."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from controllers import balancing_expert
from run_folders import stopping_after_the_first_chunk

from purejaxrl import bc, collect, datasets, envs
from purejaxrl.config import hparams
from purejaxrl.distributions import Categorical, DiagGaussian

QUIET = {"progress": False, "compilation_cache": "", "eval_episodes": 0}


@pytest.mark.parametrize("jit", [False, True])
def test_the_bc_losses_equal_their_values_worked_by_hand(jit):
    loss = jax.jit(bc.bc_loss, static_argnums=2) if jit else bc.bc_loss
    # cross-entropy: probabilities (1/4, 3/4) and (3/4, 1/4), both rows took action 1
    logits = jnp.array([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    value, metrics = loss(Categorical(logits), jnp.array([1, 1]), "nll")
    # (-ln 3/4 - ln 1/4) / 2 = (0.287682 + 1.386294) / 2
    assert float(value) == pytest.approx(0.836988, abs=1e-5)
    assert float(metrics["accuracy"]) == 0.5
    # Gaussian: mean (0.5, -1), std (1, 2), action (1.5, 0): z = (1, 0.5)
    gaussian = DiagGaussian(jnp.array([[0.5, -1.0]]), jnp.log(jnp.array([[1.0, 2.0]])))
    value, _ = loss(gaussian, jnp.array([[1.5, 0.0]]), "nll")
    # (1/2 + 0 + 0.918939) + (0.125 + ln 2 + 0.918939), 0.918939 = ln(2 pi) / 2
    assert float(value) == pytest.approx(3.156025, abs=1e-5)
    value, _ = loss(gaussian, jnp.array([[1.5, 0.0]]), "mse")
    assert float(value) == pytest.approx(1.0**2 + 1.0**2)  # the std plays no part


def expert_dataset(tmp_path, env_id: str, act, steps: int, num_envs: int = 8) -> str:
    """The dataset of `act` on `env_id`, saved under tmp_path; returns its path."""
    spec = envs.spec(env_id)
    arrays = collect.collect(act, (), spec, num_envs, steps // num_envs, jax.random.key(1))
    metadata = {"split": "expert", "env": datasets.spec_record(spec), "source": {"test": env_id}}
    return str(datasets.save(tmp_path / env_id, datasets.Dataset(arrays, metadata)))


def train_bc(config):
    out = jax.jit(bc.make_train(config))(jax.random.key(0), hparams(config))
    return bc.make_learner(config).export(out.state), out.metrics


@pytest.mark.learning
def test_bc_clones_the_action_each_probe_observation_asks_for(tmp_path):
    """On Probe-ObsActionRewardContinuous the data's action is the rewarded one, obs / 2: the
    cloned Gaussian's mean takes it, and its evaluation episodes earn the full reward 1. (The
    discrete form is cloned on CartPole below.)"""
    env_id = "Probe-ObsActionRewardContinuous-v0"

    def rewarded(exported, obs, key):
        return obs / 2

    path = expert_dataset(tmp_path, env_id, rewarded, 512)
    config = bc.BCConfig(env_id=env_id, dataset=path, total_timesteps=600, steps_per_update=200,
                         batch_size=64, eval_envs=8, hidden_sizes=(16,), **QUIET)  # fmt: skip
    config.validate()
    params, metrics = train_bc(config)
    action = np.asarray(bc.make_policy(config)(params, jnp.array([[1.0], [-1.0]]), None))
    np.testing.assert_allclose(action.reshape(2), [0.5, -0.5], atol=0.05)
    assert float(metrics["episode_return"][-1]) > 0.99
    # the sampling policy (collect --mode stochastic) draws around the mode, not at it
    samples = bc.make_sampling_policy(config)(params, jnp.ones((256, 1)), jax.random.key(2))
    assert abs(float(samples.mean()) - 0.5) < 0.05 and float(samples.std()) > 1e-4


@pytest.mark.learning
def test_bc_clones_a_cartpole_expert_to_its_return(tmp_path):
    """8,000 steps of a hand-written controller that balances for the whole 500 steps; after
    2,000 gradient steps the cloned policy's evaluation episodes reach at least 475 in both
    seeds."""
    path = expert_dataset(tmp_path, "CartPole-v1", balancing_expert, 8_000)
    data = datasets.load(path)
    assert data.mean_return() == 500.0
    config = bc.BCConfig(dataset=path, total_timesteps=2000, steps_per_update=500, **QUIET)
    keys = jax.random.split(jax.random.key(0), 2)
    out = jax.jit(jax.vmap(bc.make_train(config), in_axes=(0, None)))(keys, hparams(config))
    final = np.asarray(out.metrics["episode_return"][:, -1])
    assert (final >= 475).all(), final
    assert (np.asarray(out.metrics["accuracy"][:, -1]) > 0.95).all()


@pytest.mark.slow
def test_a_resumed_run_refuses_a_dataset_whose_data_changed(tmp_path, monkeypatch):
    """A run's checkpoints record the digest of its dataset's data.npz; resuming after the folder
    was overwritten with other data is refused in one line, not trained on a mix."""
    from purejaxrl import checkpoints, runner

    def random_action(exported, obs, key):
        return jax.random.randint(key, obs.shape[:1], 0, 2)

    env_id = "Probe-ObsActionReward-v0"  # one-step episodes: evaluation costs nothing
    path = expert_dataset(tmp_path / "a", env_id, random_action, 64)
    config = bc.BCConfig(env_id=env_id, dataset=path, total_timesteps=40, steps_per_update=10,
                         batch_size=8, chunk_updates=2, eval_envs=2, hidden_sizes=(8,),
                         runs_dir=str(tmp_path / "runs"), **QUIET)  # fmt: skip
    facts = config.checkpoint_facts()
    assert set(facts) == {"dataset_sha256"} and len(facts["dataset_sha256"]) == 64

    with stopping_after_the_first_chunk(monkeypatch):
        stopped = runner.run(config, bc.make_learner, "bc")
    assert stopped.summary["status"] == "interrupted"

    other = expert_dataset(tmp_path / "b", env_id, lambda e, obs, key: (obs[:, 0] > 0) * 1, 64)
    datasets.save(path, datasets.load(other))  # same folder, other data
    assert config.checkpoint_facts() != facts
    with pytest.raises(checkpoints.CheckpointError) as error:
        runner.run(config, bc.make_learner, "bc", resume=stopped.run_dir)
    assert "dataset_sha256=" in str(error.value) and "\n" not in str(error.value)
    assert bc.BCConfig(dataset="random").checkpoint_facts() == {}
