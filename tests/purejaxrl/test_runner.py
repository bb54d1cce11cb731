"""The runner's contract with algorithms: one env spec and one env build per run, typed traced
hyperparameters, a config that refuses reads of traced fields, per-suite CLI defaults."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import cli, dqn, ppo, runner
from purejaxrl.config import TracedFieldError, hparams, hparams_type, static_view
from purejaxrl.envs import registry
from purejaxrl.learner import learner_inputs

TINY_PPO = ppo.PPOConfig(
    total_timesteps=2 * 4 * 32, num_steps=32, progress=False, compilation_cache=""
)
TINY_DQN = dqn.DQNConfig(
    total_timesteps=400, num_envs=4, buffer_size=200, batch_size=16, learning_starts=100,
    train_frequency=4, target_update_interval=20, steps_per_update=200, progress=False,
    compilation_cache="",
)  # fmt: skip


@pytest.fixture
def builds(monkeypatch):
    """The env ids built (environment objects constructed) during the test."""
    built = []
    construct = registry._construct
    monkeypatch.setattr(registry, "_construct", lambda *a: built.append(a[0]) or construct(*a))
    registry._stateless.cache_clear()
    yield built
    registry._stateless.cache_clear()


@pytest.mark.parametrize(
    "module,config,grid",
    [(ppo, TINY_PPO, {"lr": [1e-3, 2e-3, 3e-3]}), (dqn, TINY_DQN, {"tau": [0.5, 0.9, 1.0]})],
    ids=["ppo", "dqn"],
)
def test_a_three_point_grid_run_builds_one_environment(builds, tmp_path, module, config, grid):
    config = dataclasses.replace(config, runs_dir=str(tmp_path))
    result = runner.run(config, module.make_learner, module.__name__.split(".")[-1], grid)
    assert result.metrics["loss"].shape[:2] == (3, 1)
    assert builds == [config.env_id]  # validation of 3 grid points built nothing more


def test_hparams_are_a_typed_pytree_and_a_misspelt_name_fails_at_trace_time():
    hp = hparams(TINY_PPO)
    assert type(hp) is hparams_type(ppo.PPOConfig) and type(hp).__name__ == "PPOHParams"
    assert float(hp.lr) == pytest.approx(2.5e-4) and hp._fields[:2] == ("lr", "gamma")
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), hp, hp._replace(lr=jnp.float32(1.0)))
    np.testing.assert_allclose(stacked.lr, [2.5e-4, 1.0])
    with pytest.raises(AttributeError, match="learning_rate"):
        jax.jit(lambda hp: hp.learning_rate)(hp)


def test_the_config_a_learner_sees_refuses_traced_fields_and_names_hp():
    view, spec = learner_inputs(TINY_PPO)
    assert spec.env_id == "CartPole-v1"
    assert (view.num_envs, view.num_updates, view.loss) == (4, 2, "clip")  # static and derived
    with pytest.raises(TracedFieldError, match=r"config.gamma is a traced .* read hp.gamma"):
        _ = view.gamma
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.num_envs = 8
    assert static_view(view) is view and view.config is TINY_PPO


def test_a_learner_that_reads_a_traced_field_from_its_config_fails_before_training():
    """Reading config.clip_eps inside a learner would train every grid point with point 0's value."""

    def careless_make_learner(config, spec):
        learner = ppo.make_learner(config, spec)
        clip = config.clip_eps  # the mistake: should be hp.clip_eps
        return learner._replace(
            update=lambda state, hp: learner.update(state, hp._replace(clip_eps=clip))
        )

    with pytest.raises(TracedFieldError, match="hp.clip_eps"):
        runner.run(TINY_PPO, careless_make_learner, "ppo", {"clip_eps": [0.1, 0.3]}, write=False)


def test_suite_defaults_apply_after_parsing_to_the_fields_the_user_did_not_set():
    config, _ = cli.parse_args(ppo.PPOConfig, ["--env-id", "Pong-v5"])
    assert (config.num_envs, config.clip_eps, config.total_timesteps) == (8, 0.1, 10_000_000)
    # 4 is the class default but the user set it: it stays, where Atari's default is 8
    config, grid = cli.parse_args(ppo.PPOConfig, ["--env-id", "Pong-v5", "--num-envs", "4"])
    assert (config.num_envs, config.clip_eps) == (4, 0.1) and grid == {}
    config, grid = cli.parse_args(ppo.PPOConfig, ["--lr", "1e-3", "2e-3"])
    assert config == dataclasses.replace(ppo.PPOConfig(), lr=1e-3) and grid == {"lr": (1e-3, 2e-3)}


def test_run_settings_are_suite_run_defaults_and_a_class_mixing_them_is_refused():
    config = ppo.PPOConfig.for_env("Pong-v5")
    assert (config.chunk_updates, config.checkpoint_every, config.clip_eps) == (8, 200, 0.1)
    with pytest.raises(TypeError, match=r"sets run settings \['chunk_updates'\]"):

        class Leaky(ppo.PPOConfig):
            suite_defaults = {"atari": {"clip_eps": 0.2, "chunk_updates": 4}}

    with pytest.raises(TypeError, match=r"sets \['clip_eps'\], not run settings"):

        class Misfiled(ppo.PPOConfig):
            suite_run_defaults = {"atari": {"clip_eps": 0.2}}


def test_help_shows_the_env_suites_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.parse_args(ppo.PPOConfig, ["--env-id", "Breakout-v5", "--help"], prog="ppo")
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "10000000" in text  # total_timesteps shown with Atari's default
    with pytest.raises(SystemExit):
        cli.parse_args(ppo.PPOConfig, ["--help"], prog="ppo")
    text = " ".join(capsys.readouterr().out.split())
    assert "On atari envs: 8." in text and "Parallel environments per run." in text


def test_replacing_a_traced_value_with_a_python_number_does_not_recompile():
    config = ppo.PPOConfig(total_timesteps=512, num_steps=64, num_envs=4, num_minibatches=2)
    hp = hparams(config)
    replaced = hp._replace(lr=1e-3, gamma=1)
    assert type(replaced) is type(hp) and replaced.lr.dtype == jnp.float32
    assert float(replaced.gamma) == 1.0 and replaced.clip_eps is hp.clip_eps

    calls = []

    @jax.jit
    def traced(hp):
        calls.append(1)  # runs once per compilation (tracing)
        return hp.lr * hp.gamma

    traced(hp)
    traced(replaced)
    traced(hp._replace(lr=jnp.float32(3e-3)))
    assert len(calls) == 1


@pytest.mark.parametrize("terminal", [True, False])
def test_compiling_shows_the_seconds_elapsed_while_the_main_thread_is_busy(terminal):
    import io
    import time

    from purejaxrl.progress import Progress

    stream = io.StringIO()
    progress = Progress(100, "ppo CartPole-v1", stream=stream, terminal=terminal)
    with progress.ticking("compiling 2 runs...", every=0.05):
        time.sleep(0.3)
    text = stream.getvalue()
    if terminal:  # one line, redrawn: "\rcompiling 2 runs... 0 s" several times, then a newline
        assert text.startswith("compiling 2 runs...") and text.count("\r") >= 3
        assert text.endswith(" s\n") and text.count("\n") == 1
    else:  # a log: the line, then a line per tick
        lines = text.splitlines()
        assert lines[0] == "compiling 2 runs..." and len(lines) >= 3
        assert all(
            line.startswith("compiling 2 runs... ") and line.endswith(" s so far")
            for line in lines[1:]
        )
