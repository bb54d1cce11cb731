"""Env layer: make, the wrappers and the batched view, against hand-rolled loops over raw envs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import envs
from purejaxrl.envs.wrappers import (
    ClipAction,
    EpisodeStatistics,
    NormalizeObservationState,
    RunningMeanStd,
    restarted_host_env,
)


def test_unknown_env_id_lists_the_closest_ids():
    with pytest.raises(envs.UnknownEnvironmentError, match="closest: CartPole-v1"):
        envs.make("Cartpole-v1")


def test_every_gymnax_id_is_accepted():
    import gymnax

    for env_id in gymnax.registered_envs:
        assert env_id in envs.registered_ids()
    env, params = envs.make("Acrobot-v1")
    assert env.name == "Acrobot-v1" and params.max_steps_in_episode == 500


def test_episode_statistics_match_a_hand_rolled_loop():
    env, params = envs.make("CartPole-v1")
    wrapped = EpisodeStatistics(env)
    key = jax.random.key(3)
    obs, raw_state = env.reset(key, params)
    _, state = wrapped.reset(key, params)
    raw_return, raw_length, finished = 0.0, 0, []
    step = jax.jit(wrapped.step)
    raw_step = jax.jit(env.step)
    for t in range(300):
        k = jax.random.fold_in(key, t)
        action = t % 2 if t % 7 else 0  # some pattern that ends episodes quickly
        _, raw_state, r, term, trunc, _ = raw_step(k, raw_state, action, params)
        _, state, r2, _, _, info = step(k, state, action, params)
        assert float(r) == float(r2)
        raw_return += float(r)
        raw_length += 1
        if bool(term) or bool(trunc):
            finished.append((raw_return, raw_length))
            assert bool(info["returned_episode"])
            assert float(info["episode_return"]) == raw_return
            assert int(info["episode_length"]) == raw_length
            raw_return, raw_length = 0.0, 0
        else:
            assert not bool(info["returned_episode"])
    assert len(finished) >= 5


def test_batched_view_shapes_and_final_observation():
    env = envs.make_batched("CartPole-v1", 6)
    obs, state = env.reset(jax.random.key(0))
    assert obs.shape == (6, 4)
    step = jax.jit(env.step)
    for t in range(60):
        action = jnp.zeros(6, jnp.int32)  # always push left: episodes end within ~10 steps
        next_obs, state, reward, term, trunc, info = step(jax.random.key(t), state, action)
        assert reward.shape == term.shape == (6,)
        done = np.asarray(term | trunc)
        # where nothing ended the final observation is the returned one; where it ended it is not
        same = np.all(np.asarray(info["final_observation"]) == np.asarray(next_obs), axis=1)
        assert np.all(same[~done])
        assert not np.any(same[done])
        obs = next_obs


def test_flattening_for_image_observations():
    env = envs.make_batched("Breakout-MinAtar", 2)
    obs, state = env.reset(jax.random.key(0))
    assert obs.shape == (2, 10 * 10 * 4)
    _, _, _, _, _, info = env.step(jax.random.key(1), state, jnp.zeros(2, jnp.int32))
    assert info["final_observation"].shape == (2, 400)


def test_clip_action_keeps_actions_in_the_box():
    env, params = envs.make("Pendulum-v1")
    obs, state = env.reset(jax.random.key(0), params)
    _, clipped_state, r_clipped, *_ = ClipAction(env).step(
        jax.random.key(1), state, jnp.array([50.0]), params
    )
    _, max_state, r_max, *_ = env.step(jax.random.key(1), state, jnp.array([2.0]), params)
    np.testing.assert_allclose(r_clipped, r_max)
    np.testing.assert_allclose(clipped_state.theta_dot, max_state.theta_dot)


def test_running_mean_std_matches_numpy_over_several_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(17, 3)) for _ in range(5)]
    stats = RunningMeanStd.create((3,))
    for b in batches:
        stats = stats.update(jnp.asarray(b))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, everything.mean(0), rtol=1e-4)
    np.testing.assert_allclose(stats.var, everything.var(0), rtol=1e-3)


def test_normalized_observations_have_unit_scale():
    env = envs.make_batched("Pendulum-v1", 32, normalize_observations=True)
    obs, state = env.reset(jax.random.key(0))
    step = jax.jit(env.step)
    seen = []
    for t in range(100):
        action = jax.random.uniform(jax.random.key(t), (32, 1), minval=-2, maxval=2)
        obs, state, *_ = step(jax.random.key(t), state, action)
        seen.append(np.asarray(obs))
    seen = np.concatenate(seen[50:])
    assert np.all(np.abs(seen.mean(0)) < 0.5)
    assert np.all((seen.std(0) > 0.5) & (seen.std(0) < 1.5))


def test_obs_keep_shows_the_chosen_entries_of_every_observation_and_final_observation():
    """CartPole-v1 with obs_keep=(2, 0) steps exactly as CartPole-v1 (same keys, same actions)
    and shows entries 2 and 0, in that order, of each observation and final observation; the
    space is the Box of those entries."""
    spec = envs.spec("CartPole-v1", obs_keep=(2, 0))
    assert spec.observation_space.shape == (2,) and spec.options == (("obs_keep", (2, 0)),)
    full_space = envs.spec("CartPole-v1").observation_space
    np.testing.assert_array_equal(spec.observation_space.high, np.asarray(full_space.high)[[2, 0]])
    kept, full = envs.make_batched(spec, 8), envs.make_batched("CartPole-v1", 8)
    (obs_k, state_k), (obs_f, state_f) = (
        kept.reset(jax.random.key(0)),
        full.reset(jax.random.key(0)),
    )
    ended = 0
    for t in range(40):  # random actions end some episodes: final observations differ from obs
        np.testing.assert_array_equal(obs_k, obs_f[:, [2, 0]])
        key = jax.random.key(t + 1)
        action = jax.random.bernoulli(key, shape=(8,)).astype(jnp.int32)
        obs_k, state_k, r_k, term_k, _, info_k = kept.step(key, state_k, action)
        obs_f, state_f, r_f, term_f, _, info_f = full.step(key, state_f, action)
        np.testing.assert_array_equal(r_k, r_f)
        np.testing.assert_array_equal(term_k, term_f)
        np.testing.assert_array_equal(
            info_k["final_observation"], info_f["final_observation"][:, [2, 0]]
        )
        ended += int(term_f.sum())
    assert ended > 0


@pytest.mark.parametrize("bad", [(0, 4), (1, 1), (), -1, "x", 1.5, True])
def test_obs_keep_refuses_bad_indices_in_one_line(bad):
    with pytest.raises(envs.EnvOptionError) as error:
        envs.spec("CartPole-v1", obs_keep=bad)
    assert "must be distinct indices in [0, 4)" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("memory_length", [None, 12])
def test_memory_chain_bsuite_runs_through_the_training_stack(memory_length):
    """gymnax's MemoryChain-bsuite (memory length 5 by default, or the `memory_length` option):
    the context shown at the start, a reward of +-1 at the end of every (length + 1)-step
    episode, through the batched training stack."""
    options = {} if memory_length is None else {"memory_length": memory_length}
    length = (memory_length or 5) + 1
    spec = envs.spec("MemoryChain-bsuite", **options)
    env = envs.make_batched(spec, 16)
    obs, state = env.reset(jax.random.key(0))
    assert obs.shape == (16, 3)
    rewards, dones = [], []
    for t in range(2 * length):
        obs, state, reward, _, truncated, info = env.step(
            jax.random.key(t), state, jnp.zeros(16, jnp.int32)
        )
        rewards.append(np.asarray(reward))
        dones.append(np.asarray(info["returned_episode"]))
    rewards, dones = np.stack(rewards), np.stack(dones)
    ends = [length - 1, 2 * length - 1]
    np.testing.assert_array_equal(dones[ends], True)
    assert not np.delete(dones, ends, axis=0).any()
    assert set(np.unique(rewards[ends])) <= {-1.0, 1.0} and not rewards[: length - 1].any()


@pytest.mark.parametrize(
    "options,message",
    [
        ({"memory_length": 0}, "memory_length=0: must be an integer > 0 (default 5)"),
        ({"memory_length": 2.5}, "memory_length=2.5: must be an integer > 0 (default 5)"),
        ({"memory_length": True}, "memory_length=True: must be an integer > 0 (default 5)"),
        ({"memroy_length": 9}, "memroy_length: not an option of MemoryChain; it takes obs_keep="),
    ],
)
def test_env_parameter_options_refuse_bad_values_in_one_line(options, message):
    with pytest.raises(envs.EnvOptionError) as error:
        envs.spec("MemoryChain-bsuite", **options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_float_env_parameter_option_reaches_the_env():
    """Pendulum-v1 with max_speed=1.0 (gymnax clips the angular velocity to it): after a push
    of maximal torque for 20 steps the observed velocity stays within 1, where the default 8
    lets it grow beyond."""
    speeds = {}
    for max_speed in (1.0, 8.0):
        env = envs.make_batched(envs.spec("Pendulum-v1", max_speed=max_speed), 4)
        obs, state = env.reset(jax.random.key(0))
        for t in range(20):
            obs, state, *_ = env.step(jax.random.key(t), state, jnp.full((4, 1), 2.0))
        speeds[max_speed] = float(np.abs(np.asarray(obs[:, 2])).max())
    assert speeds[1.0] <= 1.0 + 1e-6 < speeds[8.0]


def test_a_host_env_restarted_on_resume_keeps_the_saved_observation_statistics():
    """envpool's envs restart from a reset on resume; the normalisation statistics are the
    learner's and must come back from the checkpoint, not from the reset."""
    saved = NormalizeObservationState(
        "saved games", RunningMeanStd.create((3,)).update(jnp.ones((4, 3)))
    )
    fresh = NormalizeObservationState("fresh games", RunningMeanStd.create((3,)))
    restarted = restarted_host_env(saved, fresh)
    assert restarted.env_state == "fresh games"
    assert restarted.obs_stats is saved.obs_stats
    assert restarted_host_env("saved games", "fresh games") == "fresh games"


def test_optimistic_resets_restart_ended_envs_from_a_few_fresh_states():
    """Steps that end no episode are `VmapEnv`'s; the k-th env to end on a step restarts from
    fresh state k mod K, with zeroed statistics; the ending step itself reports as usual."""
    num_envs, fresh = 8, 3
    plain = envs.make_batched("CartPole-v1", num_envs)
    optimistic = envs.make_batched(envs.spec("CartPole-v1", optimistic_resets=fresh), num_envs)
    assert type(optimistic).__name__ == "OptimisticResetEnv"
    _, state = optimistic.reset(jax.random.key(0))
    action = jnp.zeros(num_envs, jnp.int32)  # always push left: episodes end together, ~10 steps
    plain_step, optimistic_step = jax.jit(plain.step), jax.jit(optimistic.step)
    seen_crowded_step = False
    for t in range(40):
        key = jax.random.key(100 + t)
        expected = plain_step(key, state, action)  # from the same state and key
        obs, state, reward, term, trunc, info = optimistic_step(key, state, action)
        done = np.asarray(term | trunc)
        np.testing.assert_array_equal(done, np.asarray(expected[3] | expected[4]))
        np.testing.assert_array_equal(reward, expected[2])
        for name in ("final_observation", "episode_return", "episode_length", "returned_episode"):
            np.testing.assert_array_equal(info[name], expected[5][name])
        np.testing.assert_array_equal(np.asarray(obs)[~done], np.asarray(expected[0])[~done])
        obs = np.asarray(obs)
        assert np.all(np.abs(obs[done]) <= 0.05)  # CartPole's reset draws every entry in +-0.05
        assert np.all(np.asarray(state.env_state.time)[done] == 0)
        assert np.all(np.asarray(state.episode_return)[done] == 0)
        ended = np.flatnonzero(done)
        starts = obs[ended]
        # the first K of them differ pairwise; the k-th after those repeats the (k - K)-th
        assert len({tuple(row) for row in starts[:fresh]}) == min(len(ended), fresh)
        for k in range(fresh, len(ended)):
            seen_crowded_step = True
            np.testing.assert_array_equal(starts[k], starts[k - fresh])
    assert seen_crowded_step  # more than K envs ended on one step at least once


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_optimistic_resets_refuse_bad_counts_in_one_line(bad):
    with pytest.raises(envs.EnvOptionError) as error:
        envs.spec("CartPole-v1", optimistic_resets=bad)
    assert f"optimistic_resets={bad!r}: must be an integer >= 1" in str(error.value)
    assert "\n" not in str(error.value)
