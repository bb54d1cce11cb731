"""The registry: `spec` describes every env as the training stack sees it, without building pools."""

import importlib.util

import numpy as np
import pytest
from gymnax.environments import spaces

from purejaxrl import envs
from purejaxrl.envs import atari, registry

needs_envpool = pytest.mark.skipif(
    importlib.util.find_spec("envpool") is None, reason="Atari needs the atari extra"
)


@pytest.mark.parametrize(
    "env_id", ["CartPole-v1", "Pendulum-v1", "Breakout-MinAtar", "Gridworld-Maze-v0",
               "Probe-TwoStep-v0", "Probe-ActionRewardContinuous-v0"],
)  # fmt: skip
def test_spec_spaces_are_those_of_the_batched_env(env_id):
    spec = envs.spec(env_id)
    env = envs.make_batched(spec, 3)
    assert spec.observation_space.shape == env.observation_space.shape
    assert type(spec.observation_space) is type(env.observation_space)
    assert spec.discrete_actions == isinstance(env.action_space, spaces.Discrete)
    assert spec.vmappable


def test_spec_capabilities_of_each_kind_of_env():
    cartpole = envs.spec("CartPole-v1")
    assert cartpole.discrete_actions and cartpole.num_actions == 2
    assert cartpole.vector_observations and not cartpole.image_observations
    assert (cartpole.suite, cartpole.episode_limit) == ("gymnax", 500)
    pendulum = envs.spec("Pendulum-v1")
    assert not pendulum.discrete_actions and pendulum.action_space.shape == (1,)
    minatar = envs.spec("Breakout-MinAtar")
    assert minatar.observation_space.shape == (400,)  # flattened for MLPs, as make_batched does
    maze = envs.spec("Gridworld-Maze-v0")
    assert maze.tabular and not maze.vector_observations and maze.suite == "gridworld"
    assert envs.spec("Probe-Constant-v0").suite == "probe"


def test_bad_ids_and_options_are_refused_with_the_closest_ids():
    with pytest.raises(envs.UnknownEnvironmentError, match="closest: CartPole-v1"):
        envs.spec("Cartpole-v1")
    with pytest.raises(
        envs.EnvOptionError, match="episodic_life: not an option of CartPole; it takes obs_keep="
    ):
        envs.spec("CartPole-v1", episodic_life=False)
    with pytest.raises(
        envs.EnvOptionError, match="episodic_life: not an option of CartPole; it takes obs_keep="
    ):
        envs.make_batched("CartPole-v1", 2, episodic_life=False)


def test_jax_envs_are_built_once_per_id_and_options(monkeypatch):
    built = []
    construct = registry._construct
    monkeypatch.setattr(registry, "_construct", lambda *a: built.append(a[0]) or construct(*a))
    registry._stateless.cache_clear()
    spec = envs.spec("Acrobot-v1")
    envs.make_batched(spec, 4)
    envs.make_batched("Acrobot-v1", 2, normalize_observations=True)
    assert built == ["Acrobot-v1"]
    registry._stateless.cache_clear()


@needs_envpool
def test_atari_spec_reads_envpool_without_starting_a_pool(monkeypatch):
    pools = []
    init = atari.AtariEnv.__init__
    monkeypatch.setattr(
        atari.AtariEnv, "__init__", lambda self, *a, **k: pools.append(a) or init(self, *a, **k)
    )
    spec = envs.spec("Pong-v5", stack_num=2, full_action_space=True, seed=3)
    assert pools == []
    assert spec.observation_space.shape == (2, 84, 84) and spec.image_observations
    assert spec.num_actions == 18 and not spec.vmappable and spec.suite == "atari"
    assert spec.episode_limit == 27_000
    env = envs.make_batched(spec, 2)
    assert len(pools) == 1 and env.seed == 3
    assert env.observation_space.shape == spec.observation_space.shape
    assert env.action_space.n == spec.num_actions
    with pytest.raises(envs.EnvOptionError, match="unknown Atari option 'frame_stack'"):
        envs.spec("Pong-v5", frame_stack=4)
    assert np.all(np.asarray(spec.observation_space.high) == 255)


def fresh_python(code: str) -> str:
    """What `code` prints in a fresh CPU-only interpreter, which must exit 0."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={"PATH": "", "JAX_PLATFORMS": "cpu"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_importing_envs_starts_no_jax_backend():
    """A program can still split the CPU after `from purejaxrl import envs` (gymnax is loaded on
    first use)."""
    code = (
        "import purejaxrl.envs, purejaxrl.ppo, purejaxrl.dqn, purejaxrl.ddpg, purejaxrl.a2c, "
        "purejaxrl.reinforce, purejaxrl.q_learning, purejaxrl.sac, purejaxrl.pqn, purejaxrl.cli, "
        "purejaxrl.runner, purejaxrl.registry, purejaxrl.__main__, "
        "purejaxrl.evaluate, purejaxrl.bc, purejaxrl.collect, purejaxrl.datasets, purejaxrl.offline\n"
        "import jax\n"
        "jax.config.update('jax_num_cpu_devices', 3)  # raises once JAX's backends have started\n"
        "print(len(jax.devices()))\n"
    )
    assert fresh_python(code) == "3"


def test_gymnax_s_renderer_imports_wait_until_a_renderer_needs_them():
    """Importing the env layer (and gymnax with it) loads neither seaborn nor what it pulls in
    (pandas, scipy.stats) nor matplotlib.pyplot; gymnax's Pong renderer still finds seaborn."""
    code = (
        "import sys, purejaxrl.envs.registry\n"
        "loaded = [m for m in ('seaborn', 'pandas', 'scipy.stats', 'matplotlib.pyplot')\n"
        "          if type(sys.modules.get(m)).__name__ == 'module']\n"
        "assert not loaded, loaded\n"
        "from gymnax.environments.misc import pong\n"
        "print(len(pong.sns.color_palette('cubehelix', 3)))\n"
    )
    assert fresh_python(code) == "3"
