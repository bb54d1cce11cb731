"""Datasets: what `collect` records against the env stepped by hand, the on-disk round trip, the
loader's refusals, and collection from a real run's checkpoints in every policy mode."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from controllers import balance

from purejaxrl import cli, collect, datasets, envs, registry, runner
from purejaxrl.checks import ConfigError
from purejaxrl.collect import CollectArgs, make_dataset

SPEC = envs.spec("CartPole-v1")


def env0_balances_env1_pushes_left(exported, obs, key):
    """Env 0 reaches the time limit (truncated at 500); env 1 falls over again and again."""
    return jnp.where(jnp.arange(obs.shape[0]) == 0, balance(obs), 0)


def test_collect_records_the_steps_of_the_env_stepped_by_hand():
    """2 envs x 520 steps: every row equals the batched env stepped in a Python loop with the
    same keys; terminated and truncated apart; next_observations is the pre-reset final
    observation where an episode ends (not the next row's reset observation); streams are
    env-major; the episodes are those that ended, in order."""
    steps, key = 520, jax.random.key(3)
    data = collect.collect(env0_balances_env1_pushes_left, (), SPEC, 2, steps, key)

    env = envs.make_batched(SPEC, 2)
    reset_key, key = jax.random.split(key)
    obs, state = env.reset(reset_key)
    step = jax.jit(env.step)
    rows = {k: [] for k in ("obs", "action", "reward", "next", "term", "trunc")}
    returns = []
    for step_key in jax.random.split(key, steps):
        _, env_key = jax.random.split(step_key)
        action = env0_balances_env1_pushes_left((), obs, None)
        next_obs, state, reward, term, trunc, info = step(env_key, state, action)
        for name, value in zip(
            rows, (obs, action, reward, info["final_observation"], term, trunc), strict=True
        ):
            rows[name].append(np.asarray(value))
        returns += [
            float(r)
            for r, e in zip(info["episode_return"], info["returned_episode"], strict=True)
            if e
        ]
        obs = next_obs
    hand = {k: np.swapaxes(np.stack(v), 0, 1).reshape((2 * steps, *v[0].shape[1:]))
            for k, v in rows.items()}  # fmt: skip

    np.testing.assert_allclose(data["observations"], hand["obs"], rtol=1e-6)
    np.testing.assert_array_equal(data["actions"], hand["action"])
    np.testing.assert_array_equal(data["rewards"], hand["reward"])
    np.testing.assert_allclose(data["next_observations"], hand["next"], rtol=1e-6)
    np.testing.assert_array_equal(data["terminals"], hand["term"])
    np.testing.assert_array_equal(data["timeouts"], hand["trunc"])
    np.testing.assert_allclose(np.sort(data["episode_returns"]), np.sort(returns))

    # env 0 (rows 0..519): truncated once, at its 500th step, never terminated
    assert np.flatnonzero(data["timeouts"][:steps]).tolist() == [499]
    assert not data["terminals"][:steps].any()
    # env 1 (rows 520..): terminated many times, never truncated
    assert data["terminals"][steps:].sum() >= 20 and not data["timeouts"][steps:].any()
    ends = np.flatnonzero(data["terminals"] | data["timeouts"])
    ends = ends[(ends + 1) % steps != 0]  # not the last step of a stream
    # at an end, next_observations is the final observation, the next row starts afresh
    assert not np.allclose(data["next_observations"][ends], data["observations"][ends + 1])
    inside = np.setdiff1d(np.arange(2 * steps - 1), np.concatenate([ends, [steps - 1]]))
    np.testing.assert_array_equal(
        data["next_observations"][inside], data["observations"][inside + 1]
    )
    assert np.flatnonzero(data["stream_ends"]).tolist() == [steps - 1, 2 * steps - 1]
    assert 500.0 in data["episode_returns"] and data["episode_lengths"].dtype == np.int32


def test_epsilon_greedy_and_gaussian_noise_change_the_greedy_actions_as_asked():
    """epsilon 0 keeps the greedy action, epsilon 1 is uniform over the actions; the noise has
    standard deviation noise_std half ranges and is clipped to the action space."""
    obs = jnp.zeros((4000, 4))
    always_one = collect.epsilon_greedy_policy(lambda e, o, k: jnp.ones(o.shape[0], int), SPEC, 0.0)
    assert (always_one((), obs, jax.random.key(0)) == 1).all()
    uniform = collect.epsilon_greedy_policy(lambda e, o, k: jnp.ones(o.shape[0], int), SPEC, 1.0)
    assert abs(float(uniform((), obs, jax.random.key(0)).mean()) - 0.5) < 0.03
    pendulum = envs.spec("Pendulum-v1")  # actions in [-2, 2]: half range 2
    noisy = collect.gaussian_noise_policy(lambda e, o, k: jnp.zeros((o.shape[0], 1)), pendulum, 0.1)
    actions = np.asarray(noisy((), obs, jax.random.key(1)))
    assert actions.shape == (4000, 1) and abs(actions.std() - 0.2) < 0.01
    at_the_edge = collect.gaussian_noise_policy(lambda e, o, k: jnp.full((o.shape[0], 1), 2.0),
                                                pendulum, 0.5)  # fmt: skip
    edge = np.asarray(at_the_edge((), obs, jax.random.key(2)))
    assert edge.max() == 2.0 and 0.4 < (edge == 2.0).mean() < 0.6  # half clipped back


def small_dataset(split: str = "random") -> datasets.Dataset:
    return collect.random_dataset(SPEC, 4, 64, seed=0)


def test_a_dataset_round_trips_bit_for_bit_and_is_written_atomically(tmp_path):
    dataset = small_dataset()
    path = datasets.save(tmp_path / "d", dataset)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no temporary folder left
    loaded = datasets.load(path, SPEC)
    assert loaded.arrays.keys() == dataset.arrays.keys()
    for name, array in dataset.arrays.items():
        assert loaded.arrays[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded.arrays[name], array)
    assert loaded.metadata["format_version"] == datasets.FORMAT_VERSION
    assert loaded.metadata["env"] == datasets.spec_record(SPEC)
    assert loaded.metadata["source"]["policy_mode"] == "random"
    datasets.save(path, dataset)  # a dataset folder is replaced
    (tmp_path / "other").mkdir()
    with pytest.raises(datasets.DatasetError, match="not a dataset folder"):
        datasets.save(tmp_path / "other", dataset)


def damage(path, **arrays):
    """Rewrites data.npz of the dataset at `path` with `arrays` replaced."""
    with np.load(path / datasets.DATA_FILE) as data:
        content = {name: data[name] for name in data.files}
    np.savez(path / datasets.DATA_FILE, **{**content, **arrays})


def test_the_loader_refuses_a_mismatched_dataset_in_one_line(tmp_path):
    path = datasets.save(tmp_path / "d", small_dataset())
    refusals = []
    with pytest.raises(datasets.DatasetError) as error:
        datasets.load(path, envs.spec("Acrobot-v1"))
    refusals.append((error, "recorded on CartPole-v1, not on Acrobot-v1"))
    with pytest.raises(datasets.DatasetError) as error:
        datasets.load(path, envs.spec("CartPole-v1", obs_keep=(0, 2)))
    refusals.append((error, "its env's options is []"))
    with pytest.raises(datasets.DatasetError) as error:
        datasets.load(tmp_path / "missing")
    refusals.append((error, "no metadata.json there"))

    meta = json.loads((path / datasets.METADATA_FILE).read_text())
    (path / datasets.METADATA_FILE).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(datasets.DatasetError) as error:
        datasets.load(path)
    refusals.append((error, "format version 99, this purejaxrl reads version 1"))
    (path / datasets.METADATA_FILE).write_text(json.dumps(meta))

    observations = np.load(path / datasets.DATA_FILE)["observations"]
    damage(path, observations=observations[:, :3])
    with pytest.raises(datasets.DatasetError) as error:
        datasets.load(path)
    refusals.append((error, "observations has shape (64, 3), expected (64, 4)"))
    damage(path, observations=observations.astype(np.float64))
    with pytest.raises(datasets.DatasetError) as error:
        datasets.load(path)
    refusals.append((error, "observations has dtype float64, expected float32"))
    damage(path, observations=observations, actions=np.full(64, 2, np.int32))
    with pytest.raises(datasets.DatasetError) as error:
        datasets.load(path)
    refusals.append((error, "actions outside [0, 2)"))
    for error, message in refusals:
        assert message in str(error.value) and "\n" not in str(error.value), str(error.value)

    # an offline run refuses a dataset of another env before anything is written
    datasets.save(path, small_dataset())
    runs = tmp_path / "runs"
    config = registry.get("bc").config_cls(env_id="Acrobot-v1", dataset=str(tmp_path / "d"),
                                           runs_dir=str(runs), progress=False)  # fmt: skip
    with pytest.raises(ConfigError, match="recorded on CartPole-v1, not on Acrobot-v1"):
        runner.run(config, registry.get("bc").make_learner, "bc")
    assert not runs.exists()


@pytest.fixture(scope="module")
def dqn_run(tmp_path_factory):
    """A tiny DQN run of 5 updates (400 steps of 4 envs each; a buffer of 500) that kept a
    checkpoint after every update, 2 seeds."""
    row = registry.get("dqn")
    folder = tmp_path_factory.mktemp("runs")
    config = row.config_cls(**{**row.tiny, "runs_dir": str(folder), "progress": False,
                               "compilation_cache": "", "eval_episodes": 0, "chunk_updates": 1,
                               "checkpoint_every": 1, "keep_checkpoints": 10,
                               "num_seeds": 2})  # fmt: skip
    return runner.run(config, row.make_learner, "dqn")


@pytest.mark.slow  # a DQN run, a collection and two buffer dumps: about 35 s here
def test_collect_plays_the_chosen_checkpoint_and_dumps_its_replay_buffer(dqn_run, tmp_path):
    """The medium convention (a part-way checkpoint): greedy actions are what the run's
    `make_policy` gives on the recorded observations, and the metadata says where the data came
    from. medium-replay: the buffer's transitions, one stream
    per env in time order (each row's next observation is the next row's observation unless an
    episode ended), complete episodes only. What cannot be done is refused in one line."""
    run_dir = str(dqn_run.run_dir)
    args = CollectArgs(run_dir, out=str(tmp_path / "d"), steps=256, num_envs=4, run=1,
                       checkpoint=2, split="medium")  # fmt: skip
    greedy = make_dataset(args)
    source = greedy.metadata["source"]
    assert greedy.metadata["split"] == "medium" and source["checkpoint_update"] == 2
    assert (source["run"], source["run_num_updates"], source["policy_mode"]) == (1, 5, "greedy")
    assert len(greedy) == 256 and greedy.metadata["env"] == datasets.spec_record(SPEC)

    from purejaxrl.evaluate import _restore, load_run, restore_state

    algorithm, config, record = load_run(run_dir)
    exported, _ = _restore(run_dir, algorithm, config, record, newest=2)
    act = algorithm.make_policy(config)
    expected = act(jax.tree.map(lambda x: x[1], exported), greedy.observations, None)
    np.testing.assert_array_equal(greedy.actions, expected)

    for checkpoint, added in ((1, 400), (2, 800)):  # the buffer of 500 not yet full, then wrapped
        replay = make_dataset(dataclasses.replace(args, mode="replay", checkpoint=checkpoint,
                                                  split=""))  # fmt: skip
        assert replay.metadata["split"] == "medium-replay"
        assert len(replay) == min(added, 500) and replay.stream_ends.sum() == 4
        ends = replay.terminals | replay.timeouts | replay.stream_ends
        inside = np.flatnonzero(~ends)
        np.testing.assert_array_equal(replay.next_observations[inside],
                                      replay.observations[inside + 1])  # fmt: skip
        _, state, _ = restore_state(run_dir, algorithm, config, record, newest=checkpoint)
        kept = np.asarray(state.buffer.data.obs[1][: len(replay)])
        assert sorted(map(tuple, replay.observations)) == sorted(map(tuple, kept))
        episodes = (replay.terminals | replay.timeouts).sum()
        assert replay.episode_returns.size == episodes - (4 if added > 500 else 0)
        assert replay.episode_lengths.sum() <= len(replay)
        np.testing.assert_array_equal(replay.episode_returns, replay.episode_lengths)  # reward 1

    bad = [
        (dataclasses.replace(args, checkpoint=7), "checkpoint=7: not kept in"),
        (dataclasses.replace(args, mode="stochastic"), "dqn has no stochastic policy"),
        (dataclasses.replace(args, mode="noise"), "CartPole-v1 has discrete actions"),
        (dataclasses.replace(args, run=2), "run=2: the run folder has runs 0 to 1"),
        (dataclasses.replace(args, mode="random"), "--mode random plays no run"),
        (dataclasses.replace(args, steps=2), "steps=2: must be >= num_envs=4"),
    ]
    for wrong, message in bad:
        with pytest.raises(ConfigError) as error:
            make_dataset(wrong)
        assert message in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_the_command_line_writes_random_and_concatenated_datasets(tmp_path, capsys):
    random_path, both = tmp_path / "random", tmp_path / "both"
    cli.command(["collect", "--mode", "random", "--env-id", "Pendulum-v1", "--steps", "400",
                 "--num-envs", "2", "--out", str(random_path)])  # fmt: skip
    assert f"wrote {random_path}: 400 transitions on Pendulum-v1" in capsys.readouterr().out
    data = datasets.load(random_path, envs.spec("Pendulum-v1"))
    assert data.actions.shape == (400, 1) and data.metadata["split"] == "random"
    assert np.abs(data.actions).max() <= 2.0 and data.actions.std() > 1.0  # uniform on [-2, 2]
    assert data.timeouts.sum() == 2 and not data.terminals.any()  # 200-step episodes
    cli.command(["collect", "--concat", str(random_path), str(random_path),
                 "--split", "medium-expert", "--out", str(both)])  # fmt: skip
    joined = datasets.load(both)
    assert len(joined) == 800 and joined.stream_ends.sum() == 4
    assert joined.metadata["split"] == "medium-expert"
    with pytest.raises(SystemExit) as stop:
        cli.command(
            ["collect", "--mode", "random", "--out", str(tmp_path / "x"), "--split", "good"]
        )
    assert stop.value.code == 2
    assert "error: split='good': must be one of random, medium" in capsys.readouterr().err
