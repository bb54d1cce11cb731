"""Recurrent PPO: the hidden state is reset exactly at episode starts, the update replays what the
rollout computed, and memory is what solves Probe-FirstObsMemory.

What every registry row promises (chunks, resume, evaluate, the one-step probe, bad input) is in
test_contract.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import envs, ppo_rnn, registry
from purejaxrl.config import ConfigError, hparams
from purejaxrl.hparams import static_view
from purejaxrl.ppo import Batch

SMALL = {"hidden_sizes": (16,), "rnn_size": 16, "head_sizes": (16,)}


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_reset_carry_zeroes_exactly_the_envs_whose_episode_begins(cell):
    carry = jax.tree.map(
        lambda z: z + jnp.arange(1.0, 7.0).reshape(3, 2), ppo_rnn.zero_carry(cell, 3, 2)
    )
    first = jnp.array([True, False, True])
    for leaf in jax.tree.leaves(ppo_rnn.reset_carry(carry, first)):
        np.testing.assert_array_equal(leaf, [[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])


@pytest.mark.slow  # compile-bound: 19 s (GRU) on this machine, over the fast tier's few seconds
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_replaying_a_rollout_reproduces_its_policy_and_values_across_episode_boundaries(cell):
    """Two rollouts of 4 envs x 24 steps on Probe-FirstObsMemory (episodes of 1 to 8 steps, so
    many begin inside a rollout; the second rollout starts mid-episode from a nonzero carry), with
    parameters perturbed so that the policy is far from uniform. Replaying the second rollout's
    observations from its stored initial carry with its stored reset flags, as the loss does,
    gives the rollout's logits and values; the loss on that batch, before any step, sees ratio 1
    (KL 0, nothing clipped). Without the reset flags, or from a zero carry, the replay differs:
    the test would see a wrong reset."""
    config = ppo_rnn.PPORNNConfig(
        env_id="Probe-FirstObsMemory-v0", num_envs=4, num_steps=24, cell=cell, **SMALL
    )
    spec = config.validate()
    learner = ppo_rnn.make_learner(config, spec)
    hp = hparams(config)
    state = learner.init(jax.random.key(0), hp)
    leaves, tree = jax.tree.flatten(state.params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    params = jax.tree.unflatten(
        tree, [p + 0.5 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)]
    )
    state = state.replace(params=params)
    env = envs.make_batched(spec, config.num_envs)
    network = ppo_rnn.make_network(config, spec)

    rollout = jax.jit(ppo_rnn.rollout, static_argnums=(0, 1, 4))
    state, _, _, _ = rollout(env, network, params, state, config.num_steps)
    start_carry = state.carry
    assert float(np.abs(np.asarray(jax.tree.leaves(start_carry)[0])).max()) > 0.1
    state, traj, first, _ = rollout(env, network, params, state, config.num_steps)
    assert first.shape == (24, 4) and int(first[1:].sum()) >= 8  # episodes begin inside
    np.testing.assert_array_equal(first[1:], traj.done[:-1])

    _, dist, value = jax.jit(network.apply)(params, start_carry, traj.obs, first)
    np.testing.assert_allclose(dist.logits, traj.dist.logits, atol=1e-5)
    np.testing.assert_allclose(value, traj.value, atol=1e-5)
    assert float(np.abs(np.asarray(traj.dist.logits[..., 0] - traj.dist.logits[..., 1])).max()) > 1

    zeros = jnp.zeros_like(traj.reward)
    steps = Batch(
        traj.obs, traj.action, traj.log_prob, traj.value, traj.dist, zeros, zeros, traj.valid
    )
    batch = ppo_rnn.SequenceBatch(steps, first, jax.tree.map(lambda c: c[None], start_carry))
    _, metrics = ppo_rnn.ppo_rnn_loss(network, params, batch, hp, 1.0, static_view(config))
    assert float(metrics["kl"]) < 1e-8 and float(metrics["clip_fraction"]) == 0.0

    _, no_reset, _ = network.apply(params, start_carry, traj.obs, jnp.zeros_like(first))
    assert np.abs(np.asarray(no_reset.logits - traj.dist.logits)).max() > 1e-2
    zero = jax.tree.map(jnp.zeros_like, start_carry)
    _, from_zero, _ = network.apply(params, zero, traj.obs, first)
    assert np.abs(np.asarray(from_zero.logits - traj.dist.logits)).max() > 1e-2


MEMORY_PROBE = {
    "env_id": "Probe-FirstObsMemory-v0", "num_envs": 32, "num_steps": 16,
    "total_timesteps": 32 * 16 * 250, "update_epochs": 4, "num_minibatches": 4, "lr": 3e-3,
    "gamma": 0.5, "ent_coef": 0.003, "anneal_lr": True, "hidden_sizes": (16,), "rnn_size": 16,
    "head_sizes": (16,),
}  # fmt: skip


def greedy_score(config, spec, exported, steps: int = 256, envs_: int = 64) -> float:
    """Mean reward per step of the greedy policy (`make_policy`'s recurrent act) over `envs_`
    envs and `steps` steps: 1 is the optimum; the carry is reset where an episode ended."""
    env = envs.make_batched(spec, envs_)
    act = ppo_rnn.make_policy(config, spec)

    def step(carry, key):
        obs, state, memory, first = carry
        action, memory = act(exported, obs, key, memory, first)
        obs, state, reward, _, _, info = env.step(key, state, action)
        return (obs, state, memory, info["returned_episode"]), reward

    obs, state = env.reset(jax.random.key(7))
    init = (obs, state, ppo_rnn.initial_carry(config, spec, envs_), jnp.ones(envs_, bool))
    _, rewards = jax.jit(
        lambda c: jax.lax.scan(step, c, jax.random.split(jax.random.key(8), steps))
    )(init)
    return float(rewards.mean())


def train_memory_probe():
    config = ppo_rnn.PPORNNConfig(**MEMORY_PROBE)
    spec = config.validate()
    out = jax.jit(ppo_rnn.make_train(config, spec))(jax.random.key(0), hparams(config))
    exported = ppo_rnn.make_learner(config, spec).export(out.state)
    return greedy_score(config, spec, exported)


@pytest.mark.learning
def test_memory_reset_at_episode_starts_solves_the_first_observation_probe_and_a_leak_fails(
    monkeypatch,
):
    """On Probe-FirstObsMemory every observation is a fair sign and the reward asks for the
    first one's action; nothing but the reset tells where an episode began. Trained with the
    reset, the greedy policy is right on >= 95% of steps; the same run with the reset removed
    (the carry runs on across episodes, in the rollout, the replay and the policy) stays far
    below, near the ~0.6 of guessing from the recent signs."""
    with_reset = train_memory_probe()
    assert with_reset >= 0.95, with_reset
    monkeypatch.setattr(ppo_rnn, "reset_carry", lambda carry, first: carry)
    leaking = train_memory_probe()
    assert leaking <= 0.8, leaking


def test_minibatches_must_split_the_envs_and_bad_sizes_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="num_minibatches=3: must divide num_envs = 4"):
        ppo_rnn.PPORNNConfig(num_minibatches=3).validate()
    with pytest.raises(ConfigError, match="rnn_size=0: must be >= 1"):
        ppo_rnn.PPORNNConfig(rnn_size=0).validate()
    with pytest.raises(ConfigError, match="cell='rnn'"):
        ppo_rnn.PPORNNConfig(cell="rnn").validate()
    with pytest.raises(ConfigError, match="image observations"):
        ppo_rnn.PPORNNConfig(torso="nature_cnn").validate()
    assert registry.get("ppo_rnn").recurrent and not registry.get("ppo").recurrent


@pytest.mark.slow
def test_a_video_plays_the_recurrent_policy_episode_by_episode():
    """`evaluate --video`'s player runs the recurrent act with its carry: two greedy episodes of
    an untrained GRU policy on CartPole, each as long as its return (1 per step)."""
    from purejaxrl import video
    from purejaxrl.evaluate import policy_memory

    config = ppo_rnn.PPORNNConfig(**SMALL)
    spec = config.validate()
    state = ppo_rnn.make_learner(config, spec).init(jax.random.key(0), hparams(config))
    exported = {"params": state.params, "obs_stats": None}
    act = ppo_rnn.make_policy(config, spec)
    memory = policy_memory(registry.get("ppo_rnn"), config, spec)
    observations, returns = video.play(act, exported, spec, jax.random.key(1), 2, memory)
    assert [len(o) for o in observations] == [int(r) for r in returns] and min(returns) >= 5
