"""PPO and DQN on Atari (envpool): updates inside one jitted call, several runs in one program,
Atari defaults, clear refusals, resume."""

import importlib.util
import shutil

import jax
import numpy as np
import pytest

from purejaxrl import cli, dqn, ppo, replay, runner
from purejaxrl.config import ConfigError, hparams

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("envpool") is None,
        reason="Atari needs the atari extra: pip install 'purejaxrl[atari]'",
    ),
    pytest.mark.atari,
]

TINY_PPO = {"total_timesteps": 2 * 4 * 16, "num_envs": 4, "num_steps": 16, "num_minibatches": 2}
TINY_DQN = {
    "total_timesteps": 256, "num_envs": 4, "buffer_size": 128, "batch_size": 8,
    "learning_starts": 64, "steps_per_update": 128, "target_update_interval": 32,
}  # fmt: skip


def changed_leaves(before, after) -> int:
    pairs = zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True)
    return sum(not np.allclose(a, b) for a, b in pairs)


@pytest.mark.parametrize(
    "module,settings,torso",
    [(ppo, TINY_PPO, "nature_cnn"), (dqn, TINY_DQN, "nature_cnn"), (dqn, TINY_DQN, "small_cnn")],
    ids=["ppo-nature", "dqn-nature", "dqn-small"],
)
def test_a_few_updates_on_pong_run_in_one_jitted_call_and_learn(module, settings, torso):
    config = module.Config.for_env("Pong-v5", torso=torso, **settings)
    config.validate()
    learner = module.make_learner(config)
    hp = hparams(config)
    key = jax.random.key(0)
    initial = learner.init(key, hp).params
    out = jax.jit(module.make_train(config))(key, hp)
    params = out.state.params
    assert changed_leaves(initial, params) == len(jax.tree.leaves(initial))  # every layer moved
    kernels = [k for k in params["params"] if "CNN" in k]
    assert kernels, "the Atari network has a CNN torso"
    loss = np.asarray(out.metrics["loss"])
    assert np.isfinite(loss[-1])
    assert out.metrics["episode_return"].shape == (config.num_updates,)


def test_atari_defaults_are_cleanrls_ppo_and_dqn_settings():
    p = ppo.PPOConfig.for_env("Breakout-v5")
    assert (p.num_envs, p.num_steps, p.update_epochs, p.num_minibatches) == (8, 128, 4, 4)
    assert (p.lr, p.clip_eps, p.total_timesteps) == (2.5e-4, 0.1, 10_000_000)
    d = dqn.DQNConfig.for_env("Pong-v5")
    assert (d.batch_size, d.train_frequency, d.loss, d.epsilon_end) == (32, 4, "huber", 0.01)
    # CleanRL's dqn_atari, not Mnih et al. 2015 (40,000 env steps, 50,000, 2.5e-4 with RMSProp)
    assert (d.target_update_interval, d.learning_starts, d.lr) == (1_000, 80_000, 1e-4)
    assert ppo.PPOConfig.for_env("CartPole-v1") == ppo.PPOConfig()  # no Atari: unchanged
    config, _ = cli.parse_args(ppo.PPOConfig, ["--env-id", "Pong-v5", "--num-envs", "16"])
    assert (config.num_envs, config.clip_eps, config.total_timesteps) == (16, 0.1, 10_000_000)


@pytest.mark.parametrize(
    "config,grid,message",
    [
        (ppo.PPOConfig.for_env("Pong-v5", env_options=("frame_stack=4",)), None,
         "unknown Atari option 'frame_stack'"),
        (ppo.PPOConfig(env_options=("episodic_life=False",)), None,
         "env_options=('episodic_life=False',): episodic_life: not an option of CartPole"),
        (ppo.PPOConfig.for_env("Pong-v5", torso="mlp"), None, "torso='mlp': needs vector"),
        (ppo.PPOConfig(torso="nature_cnn"), None, "torso='nature_cnn': needs image"),
        (ppo.PPOConfig.for_env("Pong-v5", normalize_observations=True), None,
         "scaled inside the CNN"),
        (ppo.PPOConfig(env_id="Pongg-v5"), None, "closest: Pong-v5"),
    ],
)  # fmt: skip
def test_bad_atari_input_is_refused_with_one_line(config, grid, message):
    with pytest.raises(ConfigError, match=None) as error:
        runner.validate(config, grid)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_algorithms_without_atari_support_refuse_it():
    from purejaxrl import a2c

    with pytest.raises(ConfigError, match="does not support Atari"):
        a2c.A2CConfig(env_id="Pong-v5").validate()


def test_checking_an_atari_config_starts_no_envpool_pool(monkeypatch):
    from purejaxrl.envs import atari

    pools = []
    init = atari.AtariEnv.__init__
    monkeypatch.setattr(
        atari.AtariEnv, "__init__", lambda self, *a, **k: pools.append(a) or init(self, *a, **k)
    )
    grid, spec = runner.validate(ppo.PPOConfig.for_env("Pong-v5"))
    assert len(grid) == 1 and not spec.vmappable and spec.image_observations
    grid, _ = runner.validate(ppo.PPOConfig.for_env("Pong-v5", num_seeds=2), {"lr": [1e-4, 2e-4]})
    assert len(grid) == 2
    assert pools == []
    ppo.make_learner(ppo.PPOConfig.for_env("Pong-v5", num_envs=2), spec)
    assert len(pools) == 1  # an AtariEnv; its pools start when a program using them is traced


def record_pools(monkeypatch) -> list[int]:
    """The game count of every envpool pool started from now on (in the list returned)."""
    import envpool

    games = []
    make = envpool.make
    monkeypatch.setattr(
        envpool, "make", lambda *a, **k: games.append(k["num_envs"]) or make(*a, **k)
    )
    return games


@pytest.mark.parametrize("module,settings", [(ppo, TINY_PPO), (dqn, TINY_DQN)], ids=["ppo", "dqn"])
def test_two_seeds_by_two_learning_rates_train_in_one_program_on_one_pool(
    module, settings, tmp_path, monkeypatch
):
    pools = record_pools(monkeypatch)
    config = module.Config.for_env(
        "Pong-v5", **settings, num_seeds=2, runs_dir=str(tmp_path), progress=False,
        compilation_cache="", tensorboard=False, torso="small_cnn",  # the 2013 CNN: cheaper
    )  # fmt: skip
    result = runner.run(config, module.make_learner, module.__name__, {"lr": [1e-4, 1e-3]})
    assert result.status == "complete"
    assert pools == [4 * config.num_envs]  # one pool for the 2 x 2 runs, init and every update
    shape = (2, 2, config.num_updates)  # (grid, seed, update), as on every other env
    for name, values in result.metrics.items():
        assert values.shape == shape, name
    with np.load(result.run_dir / "metrics.npz") as saved:
        assert saved["episode_return"].shape == shape and saved["loss"].shape == shape
    assert np.isfinite(result.metrics["loss"][..., -1]).all()
    assert len(result.summary["results"]) == 2
    last_layer = np.asarray(jax.tree.leaves(result.exported["params"])[-1])  # (runs, ...)
    assert last_layer.shape[0] == 4
    for a in range(4):  # each run trained its own parameters: different seeds or learning rates
        for b in range(a):
            assert not np.allclose(last_layer[a], last_layer[b]), (a, b)


@pytest.mark.parametrize("num_seeds", [1, 2])
def test_an_atari_run_resumes_with_everything_but_the_games_restored(
    num_seeds, tmp_path, monkeypatch
):
    """envpool's emulators cannot be saved: resume restores parameters, optimizer, keys and
    metrics, restarts the games from a reset, and says so in the summary; with several runs in
    one program as with one."""
    pools = record_pools(monkeypatch)
    settings = {**TINY_PPO, "total_timesteps": 4 * 4 * 16}  # 4 updates
    config = ppo.PPOConfig.for_env(
        "Pong-v5", **settings, runs_dir=str(tmp_path), progress=False, compilation_cache="",
        chunk_updates=1, checkpoint_every=1, keep_checkpoints=5, tensorboard=False,
        num_seeds=num_seeds,
    )  # fmt: skip
    whole = runner.run(config, ppo.make_learner, "ppo")
    run_dir = whole.run_dir
    for step in (3, 4):  # back to the checkpoint after update 2, as if killed there
        shutil.rmtree(run_dir / "checkpoints" / str(step))
    resumed = runner.run(config, ppo.make_learner, "ppo", resume=run_dir)
    assert resumed.status == "complete"
    assert any("games restarted" in note for note in resumed.summary["notes"])
    for name in ("loss", "episode_return"):
        np.testing.assert_array_equal(
            resumed.metrics[name][..., :2], whole.metrics[name][..., :2], err_msg=name
        )  # the first two updates come from the checkpoint
    assert resumed.metrics["loss"].shape == whole.metrics["loss"].shape == (1, num_seeds, 4)
    assert np.isfinite(resumed.metrics["loss"][..., 2:]).all()
    assert pools == [num_seeds * config.num_envs] * 2  # one pool per run (hence per learner)


def test_dqn_keeps_each_atari_frame_once_so_the_papers_replay_fits_in_8_gb():
    config = dqn.DQNConfig.for_env("Pong-v5")
    assert config.buffer_size == 1_000_000  # Mnih et al. 2015
    buffer = dqn.make_buffer(config, config.env_spec())
    assert isinstance(buffer, replay.FrameReplayBuffer) and buffer.stack == 4
    obs = np.zeros((4, 84, 84), np.uint8)
    example = replay.Transition(obs, np.int32(0), np.float32(0), obs, False, False)
    assert buffer.bytes_per_transition(example) * config.buffer_size < 8e9
    cartpole = dqn.DQNConfig()
    assert isinstance(dqn.make_buffer(cartpole, cartpole.env_spec()), replay.ReplayBuffer)


def test_atari_runs_evaluate_and_film_on_envpool_each_game_to_its_end(tmp_path):
    """`evaluate` plays each run's greedy policy on a pool of games (a `lax.while_loop` until
    every game has ended once) and `evaluate --video` steps one game from Python: the first game
    of each is envpool's env 0 with the run's seed, so both play the same game and must score
    the same. A score is a whole game of Pong: one side reached 21."""
    iio = pytest.importorskip("imageio.v3")
    from purejaxrl import video
    from purejaxrl.evaluate import evaluate

    config = ppo.PPOConfig.for_env(
        "Pong-v5", **TINY_PPO, runs_dir=str(tmp_path), progress=False, compilation_cache="",
        tensorboard=False, num_seeds=2, eval_episodes=0,
    )  # fmt: skip
    run_dir = runner.run(config, ppo.make_learner, "ppo").run_dir
    returns = evaluate(run_dir, episodes=2)["returns"]
    assert returns.shape == (1, 2, 2)
    assert np.all(returns == np.round(returns)) and np.all(np.abs(returns) <= 21)
    assert np.all(returns != 0), "a game of Pong ends 21 to less: never level"
    for run in range(2):
        made = video.record(run_dir, tmp_path / f"run{run}.mp4", run=run)
        assert made["returns"] == [returns[0, run, 0]]
        frames = iio.imread(tmp_path / f"run{run}.mp4")
        assert frames.shape == (made["lengths"][0], 176, 176, 3)  # 2 x 84, padded to 16s
        assert made["lengths"][0] > 21 * 20  # 21 points take hundreds of steps
