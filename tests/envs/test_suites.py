"""The JAX suites through one adapter (`envs.suites`): each steps exactly as the suite's own API
for the same keys and actions, episode ends split into terminated and truncated, refusals in one
line, the suites imported only when asked for, and the algorithms training on them.

Craftax compiles for half a minute or more on a CPU (its world generation and step are large
programs), so its tests are in the slow tier; XLand-MiniGrid and Jumanji compile in seconds.
MuJoCo Playground (MJX) takes 6-11 s to import and build an env, and 25-45 s to compile its
side-by-side run (slow tier), a minute for PPO's (slow tier).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces

from purejaxrl import envs, registry
from purejaxrl.config import ConfigError, hparams
from purejaxrl.envs import registry as env_registry

QUICK = {"xla_backend_optimization_level": 0}
"""LLVM -O0 for the CPU: these programs run a few hundred steps, so their compile time (halved
here for Craftax) is what counts."""


def needs(module: str):
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None, reason=f"needs {module} (the suites extra)"
    )


class Reference(NamedTuple):
    """A suite's own API, without auto-reset: `reset(key) -> (state, obs)` and
    `step(key, state, action) -> (state, obs, reward, done, terminated)`, `terminated` None where
    the suite does not tell it apart from a truncation in one flag."""

    reset: Callable
    step: Callable


def side_by_side(env_id: str, options: dict, reference: Reference, num_steps: int, seed: int = 0):
    """Steps our adapter (with episode statistics) and the suite's own env on the same keys and
    random actions for `num_steps` steps, in one compiled scan. The reference is reset where it
    ended with the reset half of the step's key, as gymnax's auto-reset does.

    Returns:
        numpy arrays, leading axis `num_steps` (the first observations have none).
    """
    env, params = envs.make(env_id, **options)
    env = envs.EpisodeStatistics(env)
    keys = jax.random.split(jax.random.key(seed), num_steps + 1)
    space = env.action_space(params)
    if isinstance(space, spaces.Discrete):
        actions = jax.random.randint(jax.random.key(seed + 1), (num_steps,), 0, space.n)
    else:  # uniform in the box, one action per step
        actions = jax.vmap(space.sample)(jax.random.split(jax.random.key(seed + 1), num_steps))

    def run():
        obs, state = env.reset(keys[0], params)
        ref_state, ref_obs = reference.reset(keys[0])

        def step(carry, inputs):
            state, ref_state = carry
            key, action = inputs
            obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
            step_key, reset_key = jax.random.split(key)
            ref_state, ref_final, ref_reward, done, ref_terminated = reference.step(
                step_key, ref_state, action
            )
            ref_state, ref_obs = jax.lax.cond(
                done, lambda: reference.reset(reset_key), lambda: (ref_state, ref_final)
            )
            ours = (obs, reward, terminated, truncated, info)
            theirs = (ref_obs, ref_final, ref_reward, done, ref_terminated)
            return (state, ref_state), (ours, theirs)

        _, out = jax.lax.scan(step, (state, ref_state), (keys[1:], actions))
        return (obs, ref_obs), out

    return jax.tree.map(np.asarray, jax.jit(run, compiler_options=QUICK)())


def check_same_transitions(out, limit: int, ends: tuple[bool, bool], atol: float = 0.0):
    """Same observations (also before each reset), rewards and episode ends; ends split into
    terminated and truncated (a truncation only at the time limit, the suite's own terminal
    flag where it has one); episode statistics summing the suite's rewards. `ends`: whether
    terminations and truncations must occur."""
    (obs0, ref_obs0), ((obs, reward, terminated, truncated, info), theirs) = out
    ref_obs, ref_final, ref_reward, done, ref_terminated = theirs
    np.testing.assert_allclose(obs0, ref_obs0, atol=atol, rtol=0)
    np.testing.assert_allclose(obs, ref_obs, atol=atol, rtol=0)
    np.testing.assert_allclose(info["final_observation"], ref_final, atol=atol, rtol=0)
    np.testing.assert_array_equal(reward, ref_reward)
    np.testing.assert_array_equal(terminated | truncated, done)
    assert not (terminated & truncated).any()
    if ref_terminated is not None:
        np.testing.assert_array_equal(terminated, ref_terminated)
    assert (terminated.sum() > 0, truncated.sum() > 0) == ends
    # episode lengths and returns, counted from the suite's own rewards and ends
    lengths, returns, length, total = [], [], 0, 0.0
    for r, d in zip(ref_reward, done, strict=True):
        length, total = length + 1, total + float(r)
        lengths.append(length)
        returns.append(total)
        if d:
            length, total = 0, 0.0
    lengths, returns = np.array(lengths), np.array(returns)
    assert (lengths[truncated] == limit).all() and (lengths <= limit).all()
    np.testing.assert_array_equal(info["returned_episode"], done)
    np.testing.assert_array_equal(info["episode_length"][done], lengths[done])
    np.testing.assert_allclose(info["episode_return"][done], returns[done], rtol=1e-6)


@needs("craftax")
@pytest.mark.slow
def test_craftax_steps_as_craftax_own_env():
    """Craftax-Classic-Symbolic, zombies everywhere and episodes of 40 steps, so that both deaths
    (terminated) and time limits (truncated) occur within 200 steps."""
    from craftax.craftax_classic.envs.craftax_symbolic_env import (
        CraftaxClassicSymbolicEnvNoAutoReset,
    )

    options = {
        "max_timesteps": 40,
        "spawn_zombie_base_chance": 0.5,
        "spawn_zombie_night_chance": 0.5,
    }
    craftax = CraftaxClassicSymbolicEnvNoAutoReset()
    params = craftax.default_params.replace(**options)

    def step(key, state, action):
        obs, state, reward, done, _ = craftax.step(key, state, action, params)
        return state, obs, reward, done, None  # one flag for death, lava and the time limit

    reference = Reference(lambda key: craftax.reset(key, params)[::-1], step)
    out = side_by_side("craftax:Craftax-Classic-Symbolic-v1", options, reference, 200)
    # the light level is a float computed through sines: one ulp apart between two compilations
    check_same_transitions(out, limit=40, ends=(True, True), atol=1e-6)
    assert out[1][0][0].shape == (200, 1345)


def dm_env_terminated(timestep):
    """Termination in dm_env terms (XLand-MiniGrid's and Jumanji's time steps): a last step
    with discount 0."""
    return timestep.last() & (timestep.discount == 0)


@needs("xminigrid")
@pytest.mark.slow
def test_xminigrid_steps_as_xminigrid_own_env():
    """MiniGrid-Empty-5x5 with episodes of 20 steps: random actions reach the goal now and then
    (terminated, reward 1 - 0.9 t / 20) and time out more often."""
    import xminigrid

    minigrid, params = xminigrid.make("MiniGrid-Empty-5x5", max_steps=20)

    def reset(key):
        timestep = minigrid.reset(params, key)
        return timestep, timestep.observation.astype(jnp.float32)

    def step(key, timestep, action):
        timestep = minigrid.step(params, timestep, action)
        obs = timestep.observation.astype(jnp.float32)
        return timestep, obs, timestep.reward, timestep.last(), dm_env_terminated(timestep)

    out = side_by_side(
        "xminigrid:MiniGrid-Empty-5x5", {"max_steps": 20}, Reference(reset, step), 300
    )
    check_same_transitions(out, limit=20, ends=(True, True))
    assert out[1][0][0].shape == (300, 7, 7, 2)  # the training stack flattens it


@needs("xminigrid")
def test_xminigrid_one_hot_observes_the_codes_of_the_same_ids():
    """`one_hot=True` observes the one-hot tile and colour codes of exactly the ids the default
    observes, step for step (MemoryS8's 3x3 view: 3 x 3 x (13 + 12) entries, one 1 per code)."""
    from xminigrid.core.constants import NUM_COLORS, NUM_TILES

    spec = envs.spec("xminigrid:MiniGrid-MemoryS8", one_hot=True)
    assert spec.observation_space.shape == (3 * 3 * (NUM_TILES + NUM_COLORS),)
    ids_env, params = envs.make("xminigrid:MiniGrid-MemoryS8")
    hot_env, _ = envs.make("xminigrid:MiniGrid-MemoryS8", one_hot=True)
    keys = jax.random.split(jax.random.key(3), 40)

    def play(env):
        obs, state = env.reset(keys[0], params)
        seen = [obs]
        for t, key in enumerate(keys[1:]):
            obs, state, *_ = env.step(key, state, t % env.num_actions, params)
            seen.append(obs)
        return jnp.stack(seen)

    ids, hot = play(ids_env).astype(jnp.int32), play(hot_env)
    assert hot.shape == (40, 3, 3, NUM_TILES + NUM_COLORS)
    assert set(np.unique(np.asarray(hot)).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(jnp.argmax(hot[..., :NUM_TILES], -1), ids[..., 0])
    np.testing.assert_array_equal(jnp.argmax(hot[..., NUM_TILES:], -1), ids[..., 1])
    assert np.all(np.asarray(hot.sum(-1)) == 2)
    batched = envs.make_batched(spec, 2)  # what training builds from --env-options one_hot=True
    assert jax.eval_shape(batched.reset, jax.random.key(0))[0].shape == (2, 225)
    for options, message in (
        ({"one_hot": "yes"}, r"one_hot='yes': not taken by .*: must be True or False\)$"),
        ({"colour": 1}, r"colour=1: not taken by xminigrid:MiniGrid-MemoryS8 \("),
    ):
        with pytest.raises(envs.EnvOptionError, match=message) as error:
            envs.spec("xminigrid:MiniGrid-MemoryS8", **options)
        assert "\n" not in str(error.value)


def jumanji_reference(env_id: str, options: dict) -> Reference:
    import jumanji

    env = jumanji.make(env_id, **options)

    def reset(key):
        state, timestep = env.reset(key)
        return state, envs.suites.flat_observation(timestep.observation)

    def step(key, state, action):
        state, timestep = env.step(state, action)
        obs = envs.suites.flat_observation(timestep.observation)
        return state, obs, timestep.reward, timestep.last(), dm_env_terminated(timestep)

    return Reference(reset, step)


@needs("jumanji")
@pytest.mark.slow
def test_jumanji_steps_as_jumanji_own_env():
    """Snake with episodes of 10 steps: it dies at a wall or times out, and Jumanji reports both
    as terminations (its observation holds the step count)."""
    options = {"time_limit": 10}
    out = side_by_side("jumanji:Snake-v1", options, jumanji_reference("Snake-v1", options), 300)
    check_same_transitions(out, limit=10, ends=(True, False))


@needs("jumanji")
def test_jumanji_observations_are_the_fields_flattened_in_order():
    import jumanji

    env = jumanji.make("Game2048-v1")
    _, timestep = jax.jit(env.reset)(jax.random.key(3))
    obs, _ = jax.jit(envs.make("jumanji:Game2048-v1")[0].reset)(jax.random.key(3))
    board, mask = timestep.observation.board, timestep.observation.action_mask
    np.testing.assert_array_equal(obs[:16], board.reshape(-1))
    np.testing.assert_array_equal(obs[16:], mask.astype(np.float32))
    spec = envs.spec("jumanji:Game2048-v1")
    assert spec.suite == "jumanji" and spec.observation_space.shape == (20,)
    assert spec.num_actions == 4 and spec.episode_limit == 0


@needs("xminigrid")
def test_the_spec_of_a_suite_id_is_built_once_and_flattens_its_view(monkeypatch):
    built = []
    construct = env_registry._construct
    monkeypatch.setattr(env_registry, "_construct", lambda *a: built.append(a[0]) or construct(*a))
    env_registry._stateless.cache_clear()
    spec = envs.spec("xminigrid:MiniGrid-MemoryS8")
    env = envs.make_batched(spec, 3)
    assert built == ["xminigrid:MiniGrid-MemoryS8"]
    env_registry._stateless.cache_clear()
    # MemoryS8 sees a 3x3 view of (tile, colour) ids: partially observed
    assert spec.observation_space.shape == env.observation_space.shape == (18,)
    assert (spec.suite, spec.num_actions, spec.episode_limit) == ("xminigrid", 6, 5 * 8**2)
    obs, _ = jax.eval_shape(env.reset, jax.random.key(0))
    assert obs.shape == (3, 18) and obs.dtype == jnp.float32


REFUSALS = [
    ("ppo", "jumanji:RubiksCube-v0",
     "its action is a MultiDiscreteArray of shape (3,); the suite adapter takes one discrete action"),
    ("ppo", "xminigrid:XLand-MiniGrid-R1-9x9", "XLand-* ids need rule sets that xminigrid downloads"),
    ("ppo", "jumanji:Snake-v2", "unknown env id 'jumanji:Snake-v2'; jumanji closest: Snake-v1"),
    ("ppo", "craftax:Craftax-Classic-Pixels-v1", "craftax closest: Craftax-Classic-Symbolic-v1"),
    ("ddpg", "xminigrid:MiniGrid-Empty-5x5", "DDPG needs a continuous (Box) action space"),
    ("q_learning", "jumanji:Game2048-v1", "tabular methods need integer observations"),
    ("alphazero", "xminigrid:MiniGrid-Empty-5x5", "alphazero plays two-player board games"),
]  # fmt: skip


@needs("jumanji")
@needs("xminigrid")
@needs("craftax")
@pytest.mark.parametrize("algo,env_id,message", REFUSALS, ids=[f"{a}-{e}" for a, e, _ in REFUSALS])
def test_unsupported_suite_ids_and_combinations_are_refused_in_one_line(algo, env_id, message):
    config_cls = registry.get(algo).config_cls
    with pytest.raises(ConfigError) as error:
        config_cls(env_id=env_id).validate()
    assert message in str(error.value) and "\n" not in str(error.value)
    assert str(error.value).startswith("env_id")


def test_a_missing_suite_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "xminigrid", None)  # importing it now raises ImportError
    with pytest.raises(envs.SuiteExtraMissingError, match=r"purejaxrl\[suites\]"):
        envs.spec("xminigrid:MiniGrid-Empty-5x5")
    assert envs.suite("xminigrid:MiniGrid-Empty-5x5") == "xminigrid"  # read from the id alone


@needs("jumanji")
def test_suites_are_imported_only_for_their_own_ids(monkeypatch):
    """With every suite's package unimportable, gymnax ids still validate; with all but Jumanji
    unimportable, a Jumanji id does: nothing imports a suite it was not asked for."""
    from purejaxrl.ppo import PPOConfig

    env_registry._stateless.cache_clear()  # the cached envs must be built afresh
    for module in ("craftax", "xminigrid"):
        monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    PPOConfig.for_env("jumanji:Game2048-v1").validate()
    monkeypatch.setitem(sys.modules, "jumanji", None)
    PPOConfig.for_env("CartPole-v1").validate()
    with pytest.raises(ConfigError, match=r"purejaxrl\[suites\]"):
        PPOConfig.for_env("jumanji:Snake-v1").validate()
    env_registry._stateless.cache_clear()


TINY_RUNS = [
    pytest.param("ppo", "craftax:Craftax-Classic-Symbolic-v1", marks=[needs("craftax"), pytest.mark.slow]),
    pytest.param("ppo", "jumanji:Snake-v1", marks=[needs("jumanji"), pytest.mark.slow]),
    pytest.param("ppo_rnn", "xminigrid:MiniGrid-MemoryS8", marks=[needs("xminigrid"), pytest.mark.slow]),
    pytest.param("pqn", "jumanji:Game2048-v1", marks=[needs("jumanji"), pytest.mark.slow]),
    pytest.param("ppo", "playground:CartpoleBalance", marks=[needs("mujoco_playground"), pytest.mark.slow]),
]  # fmt: skip


@pytest.mark.parametrize("algo,env_id", TINY_RUNS)
def test_tiny_runs_on_each_suite(algo, env_id):
    """Two updates of 2 envs x 8 steps: the algorithm takes the suite's flattened observations and
    actions, and its updates have finite, nonzero losses. PPO on Craftax, Jumanji and Playground
    (continuous actions), recurrent PPO on XLand-MiniGrid, PQN on Jumanji (each compiles for
    10-60 s here)."""
    fields = {"num_envs": 2, "num_steps": 8, "total_timesteps": 32, "num_minibatches": 1,
              "hidden_sizes": (16,), "eval_episodes": 0}  # fmt: skip
    row = registry.get(algo)
    config = row.config_cls.for_env(env_id, **fields)
    spec = config.validate()
    train = jax.jit(row.make_train(config, spec), compiler_options=QUICK)
    output = train(jax.random.key(0), hparams(config))
    loss = np.asarray(output.metrics["loss"])
    assert loss.shape == (2,) and np.isfinite(loss).all() and (loss != 0).all()
    kernels = [
        x for p, x in jax.tree_util.tree_leaves_with_path(output.state.params) if "kernel" in str(p)
    ]
    assert spec.observation_space.shape[0] in [kernel.shape[0] for kernel in kernels]


def playground_reference(name: str, options: dict) -> Reference:
    """Playground's env (MJX's JAX implementation) inside brax's `EpisodeWrapper`, the time limit
    of Playground's training wrapper: its `done` ends an episode, `info["truncation"]` says
    whether the time limit did."""
    from brax.envs.wrappers.training import EpisodeWrapper
    from mujoco_playground import registry as playground

    config = playground.get_default_config(name)
    config.update_from_flattened_dict({"impl": "jax", **options})
    env = EpisodeWrapper(playground.load(name, config=config), config.episode_length, 1)

    def reset(key):
        state = env.reset(jax.random.key_data(key))
        return state, state.obs

    def step(key, state, action):
        state = env.step(state, action)  # Playground's randomness is in its state
        done = state.done > 0
        return state, state.obs, state.reward, done, done & (state.info["truncation"] == 0)

    return Reference(reset, step)


@needs("mujoco_playground")
@pytest.mark.slow
def test_playground_steps_as_playground_own_env():
    """CartpoleBalance with episodes of 5 steps, random actions in [-1, 1]: the same MJX physics
    step for step, across two time limits (dm_control's cart-pole never terminates)."""
    options = {"episode_length": 5}
    reference = playground_reference("CartpoleBalance", options)
    out = side_by_side("playground:CartpoleBalance", options, reference, 12)
    check_same_transitions(out, limit=5, ends=(False, True))
    assert out[1][0][0].shape == (12, 5)


@needs("mujoco_playground")
def test_the_spec_of_a_playground_id_has_its_box_and_time_limit():
    spec = envs.spec("playground:CartpoleBalance")
    assert (spec.suite, spec.vmappable, spec.episode_limit) == ("playground", True, 1000)
    assert spec.observation_space.shape == (5,) and not spec.discrete_actions
    box = spec.action_space
    assert box.shape == (1,) and float(box.low) == -1.0 and float(box.high) == 1.0
    # the time limit is a parameter of the training stack, so an env option can shorten it; or
    # Playground's own config option, which sets that parameter
    assert envs.spec("playground:CartpoleBalance", max_steps_in_episode=5).episode_limit == 5
    assert envs.spec("playground:CartpoleBalance", episode_length=7).episode_limit == 7


PLAYGROUND_REFUSALS = [
    ("ppo", ("playground:CartpoleBalanse",), "unknown env id 'playground:CartpoleBalanse'; "
     "playground closest: CartpoleBalance"),
    ("ppo", ("playground:CartpoleBalance", "episode_lenght=5"),
     "episode_lenght=5: not taken by playground:CartpoleBalance"),
    ("pqn", ("playground:CartpoleBalance",), "needs a discrete action space"),
    ("q_learning", ("playground:CartpoleBalance",), "tabular methods need integer observations"),
]  # fmt: skip


@needs("mujoco_playground")
@pytest.mark.parametrize(
    "algo,env,message", PLAYGROUND_REFUSALS, ids=[f"{a}-{e[-1]}" for a, e, _ in PLAYGROUND_REFUSALS]
)
def test_bad_playground_ids_and_options_are_refused_in_one_line(algo, env, message):
    env_id, *options = env
    config = registry.get(algo).config_cls(env_id=env_id, env_options=tuple(options))
    with pytest.raises(ConfigError) as error:
        config.validate()
    assert message in str(error.value) and "\n" not in str(error.value)


@needs("mujoco_playground")
def test_playground_config_overrides_are_checked_against_its_config():
    """`envs.make` hands Playground's own options to its config; one it lacks is named, with the
    keys it has, in one line."""
    with pytest.raises(envs.UnsupportedSuiteIdError) as error:
        envs.make("playground:CartpoleBalance", episode_lenght=5)
    message = str(error.value)
    assert "episode_lenght: not in its Playground config" in message and "\n" not in message
    assert "episode_length=" in message and "impl=" in message
    with pytest.raises(envs.UnsupportedSuiteIdError) as error:  # Playground's own type check
        envs.make("playground:CartpoleBalance", episode_length="long")
    assert "cannot be casted" in str(error.value) and "\n" not in str(error.value)
    env, params = envs.make("playground:CartpoleBalance", episode_length=7)
    assert params.max_steps_in_episode == 7


def test_a_missing_playground_names_the_mjx_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mujoco_playground", None)  # importing it raises ImportError
    with pytest.raises(envs.SuiteExtraMissingError) as error:
        envs.spec("playground:CartpoleBalance")
    assert "purejaxrl[mjx]" in str(error.value) and "\n" not in str(error.value)
    assert envs.suite("playground:CartpoleBalance") == "playground"  # read from the id alone


@needs("mujoco_playground")
@pytest.mark.slow
def test_a_playground_run_stopped_after_a_chunk_resumes_bit_for_bit(tmp_path, monkeypatch):
    """MJX's physics state is JAX arrays, so unlike envpool's MuJoCo a Playground run resumes
    exactly: PPO on CartpoleBalance, 2 seeds, one update per chunk, stopped after the first chunk
    (as SIGINT would) and resumed, gives every metric and parameter of the uninterrupted run bit
    for bit."""
    from run_folders import stopping_after_the_first_chunk

    from purejaxrl import ppo, runner

    fields = {"num_envs": 2, "num_steps": 8, "total_timesteps": 32, "num_minibatches": 1,
              "hidden_sizes": (16,), "eval_episodes": 0, "num_seeds": 2, "chunk_updates": 1,
              "progress": False, "tensorboard": False}  # fmt: skip
    config = ppo.PPOConfig.for_env("playground:CartpoleBalance", **fields)
    whole = runner.run(
        dataclasses.replace(config, runs_dir=str(tmp_path / "whole")), ppo.make_learner, "ppo"
    )
    stopped_config = dataclasses.replace(config, runs_dir=str(tmp_path / "stopped"))
    with stopping_after_the_first_chunk(monkeypatch):
        stopped = runner.run(stopped_config, ppo.make_learner, "ppo")
    assert stopped.summary["status"] == "interrupted"
    assert stopped.metrics["episode_return"].shape[-1] == 1
    resumed = runner.run(stopped_config, ppo.make_learner, "ppo", resume=stopped.run_dir)
    assert whole.summary["status"] == resumed.summary["status"] == "complete"
    for key, value in whole.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[key], value, err_msg=key)
    whole_leaves, resumed_leaves = (
        jax.tree.leaves(whole.exported),
        jax.tree.leaves(resumed.exported),
    )
    assert len(whole_leaves) == len(resumed_leaves) > 0
    for r, w in zip(resumed_leaves, whole_leaves, strict=True):
        np.testing.assert_array_equal(r, w)
    assert not np.array_equal(whole.metrics["loss"][0, 0], whole.metrics["loss"][0, 1])
