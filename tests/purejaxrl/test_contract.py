"""What every algorithm of the registry promises, checked on its row's tiny settings.

A new registry row gets these tests without writing any: in one chunked sweep of seeds and grid
points, seeds differ and each run equals the same run alone (one whole scan); the sweep stopped
after a chunk and resumed gives the same numbers bit for bit; the run evaluates; bad input is
refused with one line before anything is written; and, at the row's `probe` settings, the greedy
policy learns the action each observation of a probe env asks for.
Each algorithm's own file keeps what is its own: losses by hand, probes, learning.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from run_folders import stopping_after_the_first_chunk

from purejaxrl import registry, runner
from purejaxrl.config import ConfigError, hparams, traced_fields
from purejaxrl.devices import compiler_options
from purejaxrl.evaluate import policy_memory, with_memory

NAMES = list(registry.ALGORITHMS)
FAST_SWEEPS = {
    "ppo": "the on-policy loop (rollouts, then epochs of minibatches)",
    "dqn": "the off-policy loop (a replay buffer, gradient steps on a schedule)",
    "q_learning": "the tabular loop",
}
"""Rows whose chunked-sweep test also runs in `make test-fast`: one row per loop that compiles in
seconds (the planning and offline rows take 30-45 s). Every row's sweep runs in `make test` (the
`slow` tier), so a new row is checked there without costing the fast tier 15-25 s."""
SWEEP_NAMES = [
    name if name in FAST_SWEEPS else pytest.param(name, marks=pytest.mark.slow) for name in NAMES
]

UNTRAINED_LEAVES = {"reinforce", "a2c"}
"""Rows whose tiny run leaves some parameter leaves at their initial values in every seed (the
mean baseline never trains the value head's zero biases)."""

EXPORTED_SETTINGS = {"muzero": ("gamma",)}
"""Keys of a row's export that hold a hyperparameter beside what it trained, the same in every
seed (MuZero's evaluation searches with the discount its values were learned with)."""


QUIET = {"progress": False, "compilation_cache": "", "eval_episodes": 0}
"""No progress display, the test session's compilation cache (tests/conftest.py) rather than the
user's, and no greedy evaluation at the end of a run (one more compilation per run; the contract
evaluates each row's folder with `evaluate` instead, and test_outputs.py checks the recorded one)."""


def tiny(name: str, **overrides):
    """The row's tiny config: no progress display, no checkpoint until the end, and the test
    session's compilation cache (tests/conftest.py) rather than the user's."""
    row = registry.get(name)
    return row.config_cls(**{**row.tiny, **QUIET, "checkpoint_every": 0, **overrides})


def leaves(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def train_alone(name: str, config, key):
    """One run of `config` through `make_train`, compiled as the runner compiles; its exported
    policy and its metrics."""
    row = registry.get(name)
    train = jax.jit(row.make_train(config), compiler_options=compiler_options())
    out = train(key, hparams(config))
    return row.make_learner(config).export(out.state), out.metrics


def a_grid_axis(config) -> tuple[str, list[float]]:
    """The first traced field, at its default and at half of it."""
    name = traced_fields(config)[0]
    value = getattr(config, name)
    return name, [value, value / 2]


@pytest.mark.parametrize("name", SWEEP_NAMES)
def test_a_chunked_sweep_equals_each_run_alone_and_a_stopped_one_resumes_bit_for_bit(
    name, tmp_path, monkeypatch
):
    """One sweep of 2 seeds x 2 grid points, in chunks of about half the run (the last one
    ragged), checked four ways: seeds differ; grid point 1, seed 1 equals `make_train` run alone
    with its hyperparameters and key (one whole scan, not vmapped: other programs, so the last
    bits may differ); the same sweep stopped after its first chunk and resumed in-process gives
    every metric and parameter bit for bit, the restored state typed exactly as a fresh one (weak
    types included), so that it runs the uninterrupted run's chunk program; the run folder
    evaluates."""
    from purejaxrl.evaluate import evaluate

    row = registry.get(name)
    base = tiny(name, num_seeds=2)
    num_updates = row.make_learner(base).num_updates
    chunk = num_updates // 2 + 1
    config = dataclasses.replace(base, chunk_updates=chunk, runs_dir=str(tmp_path / "whole"))
    field, values = a_grid_axis(config)
    grid = {field: values}
    whole = runner.run(config, row.make_learner, name, grid)
    assert whole.summary["status"] == "complete"
    assert whole.summary["chunk_updates"] == chunk < num_updates
    for metric in whole.metrics.values():
        assert metric.shape == (2, 2, num_updates)

    # seeds differ; grid point 1, seed 1 equals the run alone
    exported = leaves(whole.exported)
    run = [np.concatenate([np.ravel(leaf[i]) for leaf in exported]) for i in range(4)]
    assert not np.allclose(run[0], run[1]), "seeds 0 and 1 trained the same parameters"
    if name not in UNTRAINED_LEAVES:
        trained = whole.exported
        if name in EXPORTED_SETTINGS:
            trained = {k: v for k, v in trained.items() if k not in EXPORTED_SETTINGS[name]}
        for leaf in leaves(trained):
            assert not np.allclose(leaf[0], leaf[1]), "every leaf differs between seeds"
    alone_config = dataclasses.replace(base, **{field: values[1]})
    seed_keys = jax.random.split(jax.random.key(config.seed), 2)
    alone, metrics = train_alone(name, alone_config, seed_keys[1])
    # 4 vmapped runs and one whole scan alone are different programs, so the last bits differ,
    # and Adam makes them grow: a parameter whose gradient is about 0 moves by about the learning
    # rate in the direction of the rounding noise (seen: 2e-4 on SAC's critic after 100 gradient
    # steps at lr 1e-3, 1e-7 to 1e-6 elsewhere). The other runs must be ten times farther off.
    flat_alone = np.concatenate([np.ravel(leaf) for leaf in leaves(alone)])
    off = [float(np.abs(r - flat_alone).max()) for r in run]  # grid point g, seed s: run 2g + s
    assert off[3] < 1e-3, f"grid point 1, seed 1 is {off[3]:.2g} off the run alone"
    assert off[3] < 0.1 * off[2], f"the seed is ignored: {off}"
    assert off[3] < 0.1 * off[1], f"the grid point is ignored: {off}"
    for key, value in metrics.items():
        np.testing.assert_allclose(whole.metrics[key][1, 1], value, rtol=1e-3, atol=1e-3,
                                   err_msg=key)  # fmt: skip

    # stopped after the first chunk, then resumed: the uninterrupted numbers, bit for bit
    stopped_config = dataclasses.replace(config, runs_dir=str(tmp_path / "stopped"))
    with stopping_after_the_first_chunk(monkeypatch):
        stopped = runner.run(stopped_config, row.make_learner, name, grid)
    assert stopped.summary["status"] == "interrupted"
    assert stopped.metrics["episode_return"].shape[-1] == chunk
    restored_types = []

    def restore_and_record_types(run_dir, state, *rest):
        restored = real_restore(run_dir, state, *rest)
        restored_types.append(
            (jax.tree.map(jax.typeof, state), jax.tree.map(jax.typeof, restored[0]))
        )
        return restored

    real_restore = runner._restore
    with monkeypatch.context() as patch:
        patch.setattr(runner, "_restore", restore_and_record_types)
        resumed = runner.run(stopped_config, row.make_learner, name, grid, resume=stopped.run_dir)
    [(fresh_types, restored_types)] = restored_types
    assert restored_types == fresh_types, "the resumed run compiles another chunk program"
    assert resumed.summary["status"] == "complete"
    for key, value in whole.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[key], value, err_msg=key)
    for r, w in zip(leaves(resumed.exported), exported, strict=True):
        np.testing.assert_array_equal(r, w)

    evaluation = evaluate(whole.run_dir, episodes=2)
    assert evaluation["returns"].shape == (2, 2, 2)
    assert np.isfinite(evaluation["returns"]).all()


@pytest.mark.learning
@pytest.mark.parametrize("name", NAMES)
def test_the_greedy_policy_takes_the_action_each_observation_asks_for(name):
    """On Probe-ObsActionReward (one step, observation +-1, reward 1 for the action that matches
    its sign; continuous: 1 - (a - obs / 2)^2), trained at the row's `probe` settings, the policy
    `evaluate` plays picks the rewarded action for both observations. Discrete actions where the
    algorithm takes them, else continuous. A recurrent policy (registry `initial_carry`) plays it
    from a fresh carry, both observations first of their episodes."""
    row = registry.get(name)
    if row.probe is None:
        pytest.skip(f"{name} has no probe settings (its registry row says why; its own tests)")
    config = row.config_cls(**{**row.probe, **QUIET, "env_id": "Probe-ObsActionReward-v0"})
    try:
        spec = config.validate()
    except ConfigError:
        config = dataclasses.replace(config, env_id="Probe-ObsActionRewardContinuous-v0")
        spec = config.validate()
    out = jax.jit(row.make_train(config, spec))(jax.random.key(0), hparams(config))
    exported = row.make_learner(config, spec).export(out.state)
    obs = jnp.array([[1.0], [-1.0]])
    memory = policy_memory(row, config, spec)  # a recurrent policy's carry: episodes begin here
    act = with_memory(row.make_policy(config, spec), memory)
    carry = () if memory is None else memory(2)
    action, _ = act(exported, obs, jax.random.key(1), carry, jnp.ones(2, bool))
    action = np.asarray(action)
    if spec.discrete_actions:
        np.testing.assert_array_equal(action, [1, 0])
    else:
        np.testing.assert_allclose(action.reshape(2), [0.5, -0.5], atol=0.1)


@pytest.mark.parametrize("name", NAMES)
def test_a_budget_is_rounded_down_to_whole_updates_and_refused_only_below_one(name):
    config = tiny(name)
    spec = config.validate()
    learner = registry.get(name).make_learner(config, spec)
    step = learner.steps_per_update
    whole = learner.num_updates * step
    ragged = dataclasses.replace(config, total_timesteps=whole + step // 2 + 1)
    ragged.validate(spec)  # accepted: not a whole number of updates
    rounded = registry.get(name).make_learner(ragged, spec)
    assert (rounded.num_updates, rounded.steps_per_update) == (learner.num_updates, step)
    with pytest.raises(ConfigError, match="total_timesteps=.*one update"):
        dataclasses.replace(config, total_timesteps=step - 1).validate(spec)


BAD = [
    ({"num_seeds": 0}, None, "num_seeds=0: must be >= 1"),
    ({"total_timesteps": 0}, None, "total_timesteps=0: must be > 0"),
    ({}, {"env_id": [0.1, 0.2]}, "env_id: not a traced hyperparameter; traced: "),
    ({"env_id": "Cartpole-v1"}, None, "env_id: unknown env id 'Cartpole-v1'"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("overrides,grid,message", BAD, ids=["seeds", "budget", "grid", "env"])
def test_bad_input_is_refused_with_one_line_before_anything_runs(
    name, overrides, grid, message, tmp_path
):
    config = tiny(name, runs_dir=str(tmp_path), **overrides)
    with pytest.raises(ConfigError) as error:
        runner.run(config, registry.get(name).make_learner, name, grid)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not any(tmp_path.iterdir())  # nothing written
