"""The probe environments give the rewards, terminations and observations their docstring promises."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import envs
from purejaxrl.envs.probes import PROBES


def rollout(env_id, actions, steps=2, n=64):
    env = envs.make_batched(env_id, n)
    obs, state = env.reset(jax.random.key(0))
    out = []
    for t in range(steps):
        next_obs, state, r, term, trunc, info = env.step(jax.random.key(t + 1), state, actions)
        out.append((np.asarray(obs)[:, 0], np.asarray(r), np.asarray(term)))
        obs = next_obs
    return out


def test_every_probe_is_registered_and_continuous_ones_have_a_box():
    for env_id, (_, continuous) in PROBES.items():
        env, params = envs.make(env_id)
        space = env.action_space(params)
        assert (space.shape == (1,)) if continuous else (space.n == 2)


@pytest.mark.parametrize("suffix", ["", "Continuous"])
def test_value_probes(suffix):
    action = jnp.zeros((64, 1)) if suffix else jnp.zeros(64, jnp.int32)
    (obs, r, term), _ = rollout(f"Probe-Constant{suffix}-v0", action)
    assert np.all(r == 1) and np.all(term) and np.all(obs == 0)
    (obs, r, term), _ = rollout(f"Probe-ObsReward{suffix}-v0", action)
    assert np.all(r == obs) and set(obs) == {-1.0, 1.0} and np.all(term)
    (obs0, r0, term0), (obs1, r1, term1) = rollout(f"Probe-TwoStep{suffix}-v0", action)
    assert np.all(obs0 == 0) and np.all(r0 == 0) and not np.any(term0)
    assert np.all(obs1 == 1) and np.all(r1 == 1) and np.all(term1)


def test_discrete_action_probes_reward_the_right_action():
    (_, r1, _), _ = rollout("Probe-ActionReward-v0", jnp.ones(64, jnp.int32))
    (_, r0, _), _ = rollout("Probe-ActionReward-v0", jnp.zeros(64, jnp.int32))
    assert np.all(r1 == 1) and np.all(r0 == 0)
    (obs, r, _), _ = rollout("Probe-ObsActionReward-v0", jnp.ones(64, jnp.int32))
    np.testing.assert_array_equal(r, (obs > 0).astype(np.float32))


def test_continuous_action_probes_peak_at_the_target():
    (_, r, _), _ = rollout("Probe-ActionRewardContinuous-v0", jnp.full((64, 1), 0.5))
    assert np.all(r == 1)
    (_, r, _), _ = rollout("Probe-ActionRewardContinuous-v0", jnp.full((64, 1), -0.5))
    np.testing.assert_allclose(r, 0.0)
    (obs, r, _), _ = rollout("Probe-ObsActionRewardContinuous-v0", jnp.full((64, 1), 0.5))
    np.testing.assert_allclose(r, np.where(obs > 0, 1.0, 0.0))


@pytest.mark.parametrize("continuous", [False, True])
def test_the_memory_probe_rewards_the_first_observation_of_each_episode(continuous):
    """Probe-FirstObsMemory: observations are fair signs, episodes last 1 to 8 steps, and every
    step rewards the action of the sign shown at the episode's first step (continuous: 1 -
    (a - cue / 2)^2, so the action 0.5 scores 1 exactly where the cue was +1)."""
    env_id = f"Probe-FirstObsMemory{'Continuous' if continuous else ''}-v0"
    env = envs.make_batched(env_id, 256)
    obs, state = env.reset(jax.random.key(0))
    cue = np.asarray(obs[:, 0])
    action = jnp.full((256, 1), 0.5) if continuous else jnp.ones(256, jnp.int32)
    lengths, length, all_obs = [], np.zeros(256, int), []
    for t in range(24):
        all_obs.append(np.asarray(obs[:, 0]))
        obs, state, reward, term, trunc, _ = env.step(jax.random.key(t + 1), state, action)
        np.testing.assert_allclose(reward, np.where(cue > 0, 1.0, 0.0), atol=1e-6)
        length += 1
        term = np.asarray(term)
        lengths += list(length[term])
        length[term] = 0
        cue = np.where(term, np.asarray(obs[:, 0]), cue)  # a new episode shows its cue
        assert not np.asarray(trunc).any()
    assert set(lengths) == set(range(1, 9))
    assert set(np.unique(np.stack(all_obs))) == {-1.0, 1.0}
    assert 0.4 < float(np.mean(np.stack(all_obs) > 0)) < 0.6
