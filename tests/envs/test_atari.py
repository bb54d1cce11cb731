"""The envpool Atari adapter: the same steps as plain envpool, gymnax semantics, whole-game statistics."""

import dataclasses
import importlib.util
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from purejaxrl import envs
from purejaxrl.envs import atari

needs_envpool = pytest.mark.skipif(
    importlib.util.find_spec("envpool") is None,
    reason="Atari needs the atari extra: pip install 'purejaxrl[atari]'",
)


def run_adapter(env, actions):
    """Resets `env` and steps it through `actions` (T, N) in one jitted scan."""

    def run(actions):
        obs, state = env.reset(jax.random.key(0))

        def body(state, action):
            obs, state, reward, terminated, truncated, info = env.step(
                jax.random.key(0), state, action
            )
            return state, (obs, reward, terminated, truncated, info)

        return obs, jax.lax.scan(body, state, actions)[1]

    return jax.tree.map(np.asarray, jax.jit(run)(actions))


@needs_envpool
def test_adapter_steps_like_a_plain_envpool_loop_auto_reset_included():
    num_envs, steps, seed = 2, 400, 5
    options = {"max_episode_steps": 150}  # truncations as well as lost lives
    env = envs.make_batched("Breakout-v5", num_envs, seed=seed, **options)
    actions = np.random.default_rng(0).integers(0, 4, (steps, num_envs)).astype(np.int32)
    first, (obs, reward, terminated, truncated, info) = run_adapter(env, actions)

    import envpool

    plain = envpool.make(
        "Breakout-v5", env_type="gymnasium", num_envs=num_envs, seed=seed,
        episodic_life=True, reward_clip=True, **options,
    )  # fmt: skip
    plain_obs, _ = plain.reset()
    np.testing.assert_array_equal(first, plain_obs)
    done_before = np.zeros(num_envs, bool)
    for t in range(steps):
        p_obs, p_reward, p_terminated, p_truncated, _ = plain.step(actions[t])
        np.testing.assert_array_equal(obs[t], p_obs, err_msg=f"step {t}")
        np.testing.assert_array_equal(reward[t], p_reward, err_msg=f"step {t}")
        np.testing.assert_array_equal(terminated[t], p_terminated, err_msg=f"step {t}")
        np.testing.assert_array_equal(truncated[t], p_truncated, err_msg=f"step {t}")
        # the step after a done one is envpool's reset: flagged invalid, and only that one
        np.testing.assert_array_equal(info["valid"][t], ~done_before, err_msg=f"step {t}")
        done_before = p_terminated | p_truncated
    np.testing.assert_array_equal(info["final_observation"], obs)
    assert terminated.any() and truncated.any() and (~info["valid"]).any()
    assert (reward[~info["valid"]] == 0).all()


def run_vmapped(env, actions):
    """`run_adapter` for R runs vmapped together, actions (T, R, N); outputs (R, ...)."""

    def run(actions, key):
        obs, state = env.reset(key)

        def body(state, action):
            obs, state, reward, terminated, truncated, info = env.step(key, state, action)
            return state, (obs, reward, terminated, truncated, info)

        return obs, jax.lax.scan(body, state, actions)[1]

    keys = jax.random.split(jax.random.key(0), actions.shape[1])
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(run, in_axes=(1, 0)))(actions, keys))


@needs_envpool
def test_runs_vmapped_together_play_the_games_of_single_runs_seeded_num_envs_apart(monkeypatch):
    """Sticky actions (drawn from envpool's seed) and a time limit, so that the seed shows and
    games end by truncation as well as by lost lives."""
    import envpool

    runs, num_envs, steps, seed = 2, 2, 300, 3
    options = {"max_episode_steps": 120, "repeat_action_probability": 0.25}
    pools = []
    make = envpool.make
    monkeypatch.setattr(envpool, "make", lambda *a, **k: pools.append(k) or make(*a, **k))
    env = envs.make_batched("Breakout-v5", num_envs, seed=seed, runs=runs, **options)
    actions = np.random.default_rng(0).integers(0, 4, (steps, runs, num_envs)).astype(np.int32)
    together = run_vmapped(env, actions)
    assert [(k["num_envs"], k["seed"]) for k in pools] == [(runs * num_envs, seed)]  # one pool
    for r in range(runs):
        alone = envs.make_batched("Breakout-v5", num_envs, seed=seed + r * num_envs, **options)
        first, (obs, reward, terminated, truncated, info) = run_adapter(alone, actions[:, r])
        assert terminated.any() and truncated.any() and (~info["valid"]).any()
        expected = jax.tree.leaves((first, obs, reward, terminated, truncated, info))
        for i, (a, b) in enumerate(zip(expected, jax.tree.leaves(together), strict=True)):
            np.testing.assert_array_equal(a, b[r], err_msg=f"run {r}, output {i}")
    other = envs.make_batched("Breakout-v5", num_envs, seed=seed + 1, **options)
    obs = run_adapter(other, actions[:, 1])[1][0]
    assert not np.array_equal(obs, together[1][0][1])  # the seed matters: not a vacuous check


@needs_envpool
def test_an_env_of_several_runs_must_be_vmapped_over_exactly_them():
    env = envs.make_batched(dataclasses.replace(envs.spec("Pong-v5"), runs=3), 2)
    with pytest.raises(ValueError, match="trains 3 run\\(s\\) together and was vmapped over 2"):
        jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), 2))
    with pytest.raises(Exception, match="trains 3 runs together: vmap over them"):
        jax.block_until_ready(jax.jit(env.reset)(jax.random.key(0)))


@needs_envpool
def test_episode_statistics_are_whole_games_with_unclipped_rewards():
    """SpaceInvaders with episodic life and reward clipping: 3 lives per game, rewards of 5-30."""
    num_envs, steps, seed = 2, 1000, 0
    env = envs.make_batched("SpaceInvaders-v5", num_envs, seed=seed)
    actions = np.random.default_rng(1).integers(0, 6, (steps, num_envs)).astype(np.int32)
    _, (_, reward, terminated, truncated, info) = run_adapter(env, actions)

    import envpool

    plain = envpool.make(
        "SpaceInvaders-v5", env_type="gymnasium", num_envs=num_envs, seed=seed,
        episodic_life=True, reward_clip=True,
    )  # fmt: skip
    plain.reset()
    games = [[] for _ in range(num_envs)]  # (unclipped return, clipped return, length) per game
    running = np.zeros((num_envs, 3))
    lives_lost = 0
    for t in range(steps):
        _, p_reward, p_terminated, p_truncated, p_info = plain.step(actions[t])
        valid = info["valid"][t]
        running[valid] += np.stack([p_info["reward"], p_reward, np.ones(num_envs)], 1)[valid]
        for i in range(num_envs):
            game_over = bool(p_info["terminated"][i]) or bool(p_truncated[i])
            assert info["returned_episode"][t, i] == (valid[i] and game_over)
            if valid[i] and game_over:
                games[i].append(tuple(running[i]))
                assert info["episode_return"][t, i] == running[i, 0]
                assert info["episode_length"][t, i] == running[i, 2]
                assert info["episode_length"][t, i] == p_info["elapsed_step"][i]
                running[i] = 0
            elif p_terminated[i]:
                lives_lost += 1  # a lost life terminates for training but ends no game
    finished = [g for per_env in games for g in per_env]
    assert len(finished) >= 2
    assert lives_lost >= 2 * len(finished)  # SpaceInvaders: 3 lives, so 2 lost before game over
    assert np.abs(reward).max() <= 1.0  # the agent sees clipped rewards ...
    assert any(unclipped > clipped for unclipped, clipped, _ in finished)  # ... statistics don't


@needs_envpool
def test_atari_env_has_image_observations_and_discrete_actions():
    env = envs.make_batched("Pong-v5", 3)
    assert env.observation_space.shape == (4, 84, 84)
    assert env.action_space.n == 6
    assert env.num_envs == 3
    assert envs.is_atari("Pong-v5") and not envs.is_atari("CartPole-v1")
    assert "Breakout-v5" in envs.registered_ids()


@needs_envpool
def test_options_pass_through_to_envpool():
    env = envs.make_batched("Pong-v5", 1, stack_num=2, full_action_space=True, episodic_life=False)
    assert env.observation_space.shape == (2, 84, 84)
    assert env.action_space.n == 18
    assert env.pool.spec.config.episodic_life is False
    assert env.pool.spec.config.reward_clip is True  # the training default stays


@needs_envpool
def test_unknown_atari_id_names_the_closest():
    with pytest.raises(envs.UnknownEnvironmentError, match="closest: Pong-v5"):
        envs.make("Pongg-v5")


@needs_envpool
def test_unknown_option_names_the_allowed_ones():
    with pytest.raises(
        ValueError, match="unknown Atari option 'frame_stack'; allowed: .*stack_num"
    ):
        envs.make_batched("Pong-v5", 1, frame_stack=4)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "envpool", None)  # import envpool now raises ImportError
    atari.atari_ids.cache_clear()
    try:
        with pytest.raises(envs.AtariExtraMissingError, match=r"purejaxrl\[atari\]"):
            envs.check_env_id("Pong-v5")
        with pytest.raises(envs.AtariExtraMissingError, match=r"purejaxrl\[atari\]"):
            envs.make_batched("Breakout-v5", 2)
    finally:
        monkeypatch.undo()
        atari.atari_ids.cache_clear()


@needs_envpool
def test_importing_envpool_leaves_matplotlib_settings_alone(monkeypatch):
    """envpool sets MPLBACKEND=Agg on import; a notebook kernel started later would draw nothing."""
    import os

    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.delitem(sys.modules, "envpool", raising=False)
    for name in [m for m in sys.modules if m.startswith("envpool.")]:
        monkeypatch.delitem(sys.modules, name)
    atari.atari_ids.cache_clear()
    try:
        assert "Pong-v5" in atari.atari_ids()  # imports envpool afresh
        assert "MPLBACKEND" not in os.environ
    finally:
        atari.atari_ids.cache_clear()


BAD_OPTIONS = [
    ("noop_max", -5, "must be a whole number >= 1"),  # segfaulted envpool
    ("noop_max", 0, "must be a whole number >= 1"),  # so does 0
    ("noop_max", 2.5, "must be a whole number >= 1"),
    ("stack_num", 0, "must be a whole number >= 1"),
    ("stack_num", True, "must be a whole number >= 1"),
    ("frame_skip", -1, "must be a whole number >= 1"),
    ("max_episode_steps", 0, "must be a whole number >= 1"),
    ("img_height", 0, "must be a whole number >= 1"),
    ("mode", -2, "must be a whole number >= -1"),
    ("episodic_life", 2, "must be True or False"),
    ("reward_clip", "yes", "must be True or False"),
    ("gray_scale", 1, "must be True or False"),
    ("repeat_action_probability", "abc", "must be a number in [0, 1]"),
    ("repeat_action_probability", 1.5, "must be a number in [0, 1]"),
    ("repeat_action_probability", -0.1, "must be a number in [0, 1]"),
    ("repeat_action_probability", float("nan"), "must be a number in [0, 1]"),
]


@pytest.fixture
def no_pool(monkeypatch):
    """envpool.make fails the test if called: option checks must come before any pool."""
    import envpool

    def make(*args, **kwargs):
        raise AssertionError(f"an envpool pool was built: {args} {kwargs}")

    monkeypatch.setattr(envpool, "make", make)


@needs_envpool
@pytest.mark.parametrize(
    "name,value,rule", BAD_OPTIONS, ids=[f"{n}={v!r}" for n, v, _ in BAD_OPTIONS]
)
def test_bad_option_values_are_refused_in_one_line_before_any_pool(no_pool, name, value, rule):
    expected = f"Atari option {name}={value!r}: {rule}"
    with pytest.raises(envs.EnvOptionError) as spec_error:
        envs.spec("Pong-v5", **{name: value})
    with pytest.raises(envs.EnvOptionError) as make_error:
        envs.make_batched("Pong-v5", 1, **{name: value})
    for error in (spec_error, make_error):
        assert str(error.value).startswith(expected)
        assert "\n" not in str(error.value)


@needs_envpool
def test_a_mode_the_game_lacks_is_refused_by_envpool_as_an_option_error(no_pool):
    with pytest.raises(envs.EnvOptionError, match="mode=99: envpool refused: Invalid game mode"):
        envs.spec("Pong-v5", mode=99)


@needs_envpool
def test_good_option_values_of_every_kind_are_accepted():
    spec = envs.spec(
        "Pong-v5", noop_max=1, stack_num=2, frame_skip=1, repeat_action_probability=1,
        episodic_life=False, img_height=64, mode=-1, max_episode_steps=10,
    )  # fmt: skip
    assert spec.observation_space.shape == (2, 64, 84)
    assert spec.episode_limit == 10


@pytest.mark.process
@needs_envpool
def test_cli_refuses_a_bad_option_with_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "purejaxrl.ppo", "--env-id", "Pong-v5",
         "--env-options", "noop_max=-5", "--no-progress"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Atari option noop_max=-5: must be a whole number >= 1" in lines[0]
    assert not (tmp_path / "runs").exists()


@needs_envpool
def test_every_envpool_atari_id_ends_in_v5_so_other_ids_never_import_envpool():
    """`envs.is_atari` answers ids without the `-v5` ending without importing envpool (0.6 s of
    start-up); that is right only while envpool names every Atari game so."""
    import subprocess

    ids = atari.atari_ids()
    assert len(ids) > 50 and all(atari.looks_like_atari(env_id) for env_id in ids)
    code = (
        "import sys\n"
        "from purejaxrl import envs\n"
        "from purejaxrl.ppo import PPOConfig\n"
        "assert envs.suite('CartPole-v1') == 'gymnax' and envs.suite('Breakout-MinAtar') == 'gymnax'\n"
        "PPOConfig.for_env('CartPole-v1').validate()\n"
        "print('envpool' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
