"""The envpool MuJoCo adapter: the same transitions as plain envpool, gymnax's same-step resets,
terminated apart from truncated, options checked before any pool, and the continuous-control
algorithms training on it."""

import dataclasses
import importlib.util

import jax
import numpy as np
import pytest

from purejaxrl import envs
from purejaxrl.envs import mujoco

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("envpool") is None,
    reason="MuJoCo needs the mujoco extra: pip install 'purejaxrl[mujoco]'",
)


def run_vmapped(env, actions):
    """Resets `env` and steps it through `actions` (T, R, N, d) in one jitted scan, vmapped over
    the R runs; outputs with a leading (R,) axis."""

    def run(actions, key):
        obs, state = env.reset(key)

        def body(state, action):
            obs, state, reward, terminated, truncated, info = env.step(key, state, action)
            return state, (obs, reward, terminated, truncated, info)

        return obs, jax.lax.scan(body, state, actions)[1]

    keys = jax.random.split(jax.random.key(0), actions.shape[1])
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(run, in_axes=(1, 0)))(actions, keys))


def test_two_runs_step_like_plain_envpool_envs_over_falls_and_time_limits():
    """Hopper-v4 falls (terminated) under random actions and is cut at 40 steps (truncated).
    Env k of run r must be plain envpool's single env seeded `seed + r * num_envs + k`, given the
    same actions (clipped to [-1, 1]): envpool resets it on the step after an episode's end, and
    that reset is the first observation the adapter returned at the end."""
    import envpool

    runs, num_envs, steps, seed, limit = 2, 2, 160, 3, 40
    env = envs.make_batched("Hopper-v4", num_envs, seed=seed, runs=runs, max_episode_steps=limit)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1.5, 1.5, (steps, runs, num_envs, 3)).astype(np.float32)
    first, (obs, reward, terminated, truncated, info) = run_vmapped(env, actions)
    assert obs.dtype == reward.dtype == np.float32 and obs.shape == (runs, steps, num_envs, 11)
    assert terminated.any() and truncated.any() and not (terminated & truncated).any()

    for r in range(runs):
        for k in range(num_envs):
            plain = envpool.make(
                "Hopper-v4", env_type="gymnasium", num_envs=1, seed=seed + r * num_envs + k,
                max_episode_steps=limit,
            )  # fmt: skip
            expected, _ = plain.reset()
            np.testing.assert_array_equal(first[r, k], expected[0].astype(np.float32))
            running, length = 0.0, 0
            for t in range(steps):
                at = f"run {r} env {k} step {t}"
                action = np.clip(actions[t, r, k], -1.0, 1.0).astype(np.float64)[None]
                p_obs, p_reward, p_terminated, p_truncated, _ = plain.step(action)
                np.testing.assert_array_equal(
                    info["final_observation"][r, t, k], p_obs[0].astype(np.float32), err_msg=at
                )
                assert reward[r, t, k] == p_reward[0], at
                assert terminated[r, t, k] == p_terminated[0], at
                assert truncated[r, t, k] == p_truncated[0], at
                running, length = running + float(p_reward[0]), length + 1
                done = p_terminated[0] or p_truncated[0]
                assert info["returned_episode"][r, t, k] == done, at
                if done:  # the statistics are the finished episode's; the next obs is a reset
                    np.testing.assert_allclose(info["episode_return"][r, t, k], running, rtol=1e-5)
                    assert info["episode_length"][r, t, k] == length, at
                    running, length = 0.0, 0
                    p_obs, p_reward, *_ = plain.step(np.zeros((1, 3)))  # envpool's reset step
                    assert p_reward[0] == 0.0
                np.testing.assert_array_equal(obs[r, t, k], p_obs[0].astype(np.float32), err_msg=at)


def test_a_mujoco_id_has_its_own_suite_and_a_spec_read_without_a_pool(no_pool):
    assert envs.suite("HalfCheetah-v4") == "mujoco" and not mujoco.is_mujoco("Pendulum-v1")
    spec = envs.spec("HalfCheetah-v4", max_episode_steps=10, forward_reward_weight=2.0)
    assert spec.observation_space.shape == (17,) and spec.action_space.shape == (6,)
    assert spec.observation_space.dtype == spec.action_space.dtype == np.float32
    assert (spec.action_space.low == -1).all() and (spec.action_space.high == 1).all()
    assert not spec.vmappable and not spec.discrete_actions and spec.vector_observations
    assert spec.episode_limit == 10
    assert envs.spec("Humanoid-v4").action_space.high.max() == pytest.approx(0.4)


def test_every_mujoco_id_is_an_envpool_gym_task():
    import envpool

    specs = envpool.registration.registry.specs
    assert all(specs[env_id][0] == "envpool.mujoco.gym" for env_id in mujoco.MUJOCO_IDS)
    assert set(mujoco.MUJOCO_IDS) <= set(envs.registered_ids())


@pytest.fixture
def no_pool(monkeypatch):
    """envpool.make fails the test if called: specs and option checks must start no pool."""
    import envpool

    def make(*args, **kwargs):
        raise AssertionError(f"an envpool pool was built: {args} {kwargs}")

    monkeypatch.setattr(envpool, "make", make)


BAD_OPTIONS = [
    ("max_episode_steps", 0, "must be a whole number >= 1"),
    ("frame_skip", 2.5, "must be a whole number >= 1"),
    ("terminate_when_unhealthy", 1, "must be True or False"),
    ("ctrl_cost_weight", float("nan"), "must be a finite number"),
    ("healthy_z_min", "low", "must be a finite number"),
    ("xml_file", "mine.xml", "unknown Hopper-v4 option 'xml_file'; allowed: "),
    ("noop_max", 30, "unknown Hopper-v4 option 'noop_max'; allowed: "),
]


@pytest.mark.parametrize("name,value,rule", BAD_OPTIONS, ids=[n for n, _, _ in BAD_OPTIONS])
def test_bad_options_are_refused_in_one_line_before_any_pool(no_pool, name, value, rule):
    with pytest.raises(envs.EnvOptionError) as error:
        envs.spec("Hopper-v4", **{name: value})
    message = str(error.value)
    assert rule in message and "\n" not in message
    if "unknown" not in rule:
        assert f"{name}={value!r}" in message


def test_a_config_with_a_bad_option_or_algorithm_is_refused_in_one_line(no_pool):
    from purejaxrl import dqn, ppo
    from purejaxrl.checks import ConfigError

    config = ppo.PPOConfig.for_env("Hopper-v4", env_options=("frame_skip=0",))
    with pytest.raises(ConfigError, match=r"frame_skip=0: must be a whole number >= 1"):
        config.validate()
    with pytest.raises(ConfigError, match="DQN needs a discrete action space"):
        dqn.DQNConfig.for_env("Hopper-v4").validate()


def test_mujoco_defaults_are_cleanrls_continuous_action_settings():
    from purejaxrl import ddpg, ppo, sac

    p = ppo.PPOConfig.for_env("HalfCheetah-v4")
    assert (p.num_envs, p.num_steps, p.num_minibatches, p.update_epochs) == (1, 2048, 32, 10)
    assert (p.lr, p.ent_coef, p.clip_eps, p.normalize_observations) == (3e-4, 0.0, 0.2, True)
    d = ddpg.DDPGConfig.for_env("HalfCheetah-v4", td3=True)
    assert (d.hidden_sizes, d.actor_lr, d.critic_lr, d.learning_starts) == (
        (256, 256),
        3e-4,
        3e-4,
        25_000,
    )
    assert (d.buffer_size, d.train_frequency, d.gamma, d.tau, d.actor_delay) == (
        1_000_000,
        1,
        0.99,
        0.005,
        2,
    )
    s = sac.SACConfig.for_env("HalfCheetah-v4")
    assert (s.hidden_sizes, s.actor_lr, s.critic_lr, s.alpha_lr, s.learning_starts) == (
        (256, 256),
        3e-4,
        1e-3,
        1e-3,
        5_000,
    )
    assert ppo.PPOConfig.for_env("Pendulum-v1").num_steps == 128  # other suites keep theirs


TINY = {
    "ppo": {"num_envs": 2, "num_steps": 50, "num_minibatches": 2, "update_epochs": 1,
            "total_timesteps": 2 * 50 * 3},
    "ddpg": {"td3": True, "num_envs": 2, "total_timesteps": 600, "steps_per_update": 200,
             "learning_starts": 200, "train_frequency": 2, "buffer_size": 1000,
             "batch_size": 32, "hidden_sizes": (16, 16)},
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("algo", list(TINY), ids=["ppo", "td3"])
def test_ppo_and_td3_train_two_seeds_on_halfcheetah_in_one_program(algo):
    """HalfCheetah never falls, so with a 50-step limit every env's episodes are truncated at
    exactly 50 steps; both runs, vmapped over one envpool pool, train (finite losses) on envs of
    their own (different returns). SAC runs the same off-policy loop as TD3 and is left out to
    keep within the test budget."""
    from purejaxrl import registry
    from purejaxrl.hparams import hparams

    row = registry.get(algo)
    config = row.config_cls.for_env(
        "HalfCheetah-v4", **TINY[algo], env_options=("max_episode_steps=50",)
    )
    spec = dataclasses.replace(config.validate(), runs=2)
    learner = row.make_learner(config, spec)
    train = jax.jit(jax.vmap(row._attr(row.train)(config, spec), in_axes=(0, None)))
    keys = jax.random.split(jax.random.key(0), 2)
    _, metrics = train(keys, hparams(config))
    metrics = jax.tree.map(np.asarray, metrics)
    assert config.total_timesteps % 50 == 0  # env steps per run, all envs together
    assert metrics["episodes"].sum(axis=1).tolist() == [config.total_timesteps // 50] * 2
    assert (metrics["episode_length"] == 50).all()
    returns = metrics["episode_return"]
    assert np.isfinite(returns).all() and not np.array_equal(returns[0], returns[1])
    losses = [v for k, v in metrics.items() if "loss" in k]
    assert losses and all(np.isfinite(v[:, -1]).all() for v in losses)
    assert learner.num_updates == metrics["episodes"].shape[1] == 3


@pytest.mark.slow
def test_an_offline_learner_is_scored_on_halfcheetah_for_two_runs_in_one_program():
    """Behaviour cloning of a random HalfCheetah dataset, 2 runs vmapped over one envpool pool
    of evaluation envs: every update plays eval_envs whole 20-step episodes per run, and the two
    runs' policies (different initial parameters) score differently."""
    from purejaxrl import bc
    from purejaxrl.hparams import hparams

    config = bc.BCConfig(
        env_id="HalfCheetah-v4", dataset="random", random_dataset_steps=64, total_timesteps=20,
        steps_per_update=10, batch_size=16, eval_envs=2, hidden_sizes=(16, 16),
        env_options=("max_episode_steps=20",),
    )  # fmt: skip
    spec = dataclasses.replace(config.validate(), runs=2)
    train = jax.jit(jax.vmap(bc.make_train(config, spec), in_axes=(0, None)))
    _, metrics = train(jax.random.split(jax.random.key(0), 2), hparams(config))
    metrics = jax.tree.map(np.asarray, metrics)
    assert metrics["episodes"].tolist() == [[2, 2], [2, 2]]  # (run, update)
    returns = metrics["episode_return"]
    assert np.isfinite(returns).all() and (returns != 0).all()  # every episode ended
    assert not np.array_equal(returns[0], returns[1])


@pytest.mark.slow
def test_datasets_are_collected_from_a_halfcheetah_run_folder(tmp_path):
    """A TD3 run folder on HalfCheetah gives a replay dataset (every transition it took, its
    episodes complete) and a greedy one (its policy played in fresh envpool envs)."""
    from purejaxrl import collect, ddpg, runner

    config = ddpg.DDPGConfig.for_env(
        "HalfCheetah-v4", **TINY["ddpg"], env_options=("max_episode_steps=50",),
        runs_dir=str(tmp_path), progress=False, tensorboard=False, compilation_cache="",
    )  # fmt: skip
    run_dir = runner.run(config, ddpg.make_learner, "ddpg", write=True).run_dir
    replay = collect.make_dataset(collect.CollectArgs(str(run_dir), out="unused", mode="replay"))
    assert len(replay) == config.total_timesteps  # 600 < buffer_size: nothing overwritten
    assert replay.arrays["episode_lengths"].tolist() == [50] * (config.total_timesteps // 50)
    greedy = collect.make_dataset(
        collect.CollectArgs(str(run_dir), out="unused", steps=200, num_envs=2)
    )
    assert len(greedy) == 200 and greedy.arrays["timeouts"].sum() == 4  # 2 envs x 2 episodes
    assert np.isfinite(greedy.arrays["rewards"]).all()
