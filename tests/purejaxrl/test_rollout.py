"""The episodes of a fixed policy (`rollout.first_episode_info`), against a hand-stepped loop."""

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import envs
from purejaxrl.rollout import first_episode_info, first_episode_returns


def push_left(exported, obs, key, carry, first):
    return jnp.zeros(obs.shape[0], jnp.int32), carry


def test_first_episode_info_keeps_each_env_s_values_at_its_first_episode_end():
    env = envs.make_batched("CartPole-v1", 5)
    key = jax.random.key(3)
    keys = ("episode_return", "episode_length")
    ends = jax.jit(lambda k: first_episode_info(push_left, None, env, 40, k, None, keys))(key)
    # by hand: the same keys, step after step, noting each env's first episode end
    _, state = env.reset(key)
    expected = {k: np.zeros(5) for k in keys}
    finished = np.zeros(5, bool)
    step = jax.jit(env.step)
    for step_key in jax.random.split(key, 40):
        _, env_key = jax.random.split(step_key)
        _, state, _, _, _, info = step(env_key, state, jnp.zeros(5, jnp.int32))
        first_end = np.asarray(info["returned_episode"]) & ~finished
        for k in keys:
            expected[k][first_end] = np.asarray(info[k])[first_end]
        finished |= first_end
    assert finished.all() and np.all(expected["episode_length"] > 5)
    for k in keys:
        np.testing.assert_array_equal(ends[k], expected[k])
    np.testing.assert_array_equal(ends["episode_return"], ends["episode_length"])  # +1 a step
    returns = first_episode_returns(push_left, None, env, 40, key)
    np.testing.assert_array_equal(returns, expected["episode_return"])
    scanned = first_episode_info(push_left, None, env, 40, key, None, keys, stop_early=False)
    for k in keys:  # every step played (a host env's vmapped runs need it): the same values
        np.testing.assert_array_equal(scanned[k], expected[k])
    cut = first_episode_info(push_left, None, env, 3, key, None, keys)  # too few steps to end
    assert np.all(np.asarray(cut["episode_length"]) == 0)
