"""Live metrics (purejaxrl/live.py): the event files read back with TensorBoard's own reader, the
tag scheme, NaN handling, the per-run threshold, purging on resume, and W&B (offline and faked)."""

from __future__ import annotations

import builtins
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from purejaxrl.config import ConfigError
from purejaxrl.live import PER_RUN_LIMIT, WANDB_MISSING, LiveLog


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series under run_dir/tensorboard: tag -> [(step, value), ...], purges applied."""
    accumulator = event_accumulator.EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={event_accumulator.SCALARS: 0}
    )
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def sweep_chunk(num_grid: int, num_seeds: int, num_updates: int, seed: int = 0):
    """A chunk of metrics like the runner's: returns with NaN where no episode ended, int counts."""
    rng = np.random.default_rng(seed)
    shape = (num_grid, num_seeds, num_updates)
    episodes = rng.integers(0, 3, size=shape)
    returns = np.where(episodes > 0, rng.normal(100.0, 20.0, size=shape), np.nan)
    returns[0, :, 0] = np.nan  # an update in which no seed of grid point 0 finished an episode
    loss = rng.normal(size=shape).astype(np.float32)
    env_steps = 512 * np.arange(1, num_updates + 1)
    return env_steps, {"episode_return": returns, "episodes": episodes, "loss": loss}


def test_grid_point_means_are_nanmeans_over_seeds_at_env_steps(tmp_path):
    labels = ["lr=0.0003", "lr=0.001"]
    env_steps, metrics = sweep_chunk(2, 3, 5)
    with LiveLog(tmp_path, labels, 3) as live:
        live.write(env_steps, metrics)
    scalars = read_scalars(tmp_path)

    for name, values in metrics.items():
        for g, label in enumerate(labels):
            expected = [
                (int(step), float(np.nanmean(values[g, :, k])))
                for k, step in enumerate(env_steps)
                if not np.all(np.isnan(values[g, :, k]))
            ]
            got = scalars[f"{name}/{label}/mean"]
            assert [step for step, _ in got] == [step for step, _ in expected]
            np.testing.assert_allclose([v for _, v in got], [v for _, v in expected], rtol=1e-6)
    # grid point 0 had no episode in update 0: no point there rather than a NaN
    assert scalars["episode_return/lr=0.0003/mean"][0][0] == env_steps[1]


def test_nan_is_never_written(tmp_path):
    env_steps, metrics = sweep_chunk(2, 4, 8)
    metrics["all_nan"] = np.full((2, 4, 8), np.nan)
    with LiveLog(tmp_path, ["a", "b"], 4, per_run=True) as live:
        live.write(env_steps, metrics)
    scalars = read_scalars(tmp_path)

    assert not any(tag.startswith("all_nan/") for tag in scalars)
    assert all(not math.isnan(v) for series in scalars.values() for _, v in series)
    for g, label in enumerate(["a", "b"]):
        for s in range(4):
            got = scalars[f"episode_return/{label}/seed_{s}"]
            ended = ~np.isnan(metrics["episode_return"][g, s])
            assert [step for step, _ in got] == env_steps[ended].tolist()
            np.testing.assert_allclose(
                [v for _, v in got], metrics["episode_return"][g, s][ended], rtol=1e-6
            )


def test_default_grid_point_tags_have_no_label_level(tmp_path):
    env_steps, metrics = sweep_chunk(1, 2, 3)
    with LiveLog(tmp_path, [""], 2) as live:
        live.write(env_steps, {"loss": metrics["loss"]})
    assert set(read_scalars(tmp_path)) == {"loss/mean", "loss/seed_0", "loss/seed_1"}


def test_a_slash_in_a_label_does_not_add_a_tag_level(tmp_path):
    with LiveLog(tmp_path, ["env=a/b"], 1) as live:
        live.write(np.array([10]), {"loss": np.ones((1, 1, 1))})
    assert set(read_scalars(tmp_path)) == {"loss/env=a_b/mean", "loss/env=a_b/seed_0"}


def test_chunks_append_and_each_write_is_flushed(tmp_path):
    live = LiveLog(tmp_path, [""], 1)
    live.write(np.array([1, 2]), {"loss": np.array([[[1.0, 2.0]]])})
    assert read_scalars(tmp_path)["loss/mean"] == [(1, 1.0), (2, 2.0)]  # before close
    live.write(np.array([3]), {"loss": np.array([[[3.0]]])})
    assert read_scalars(tmp_path)["loss/mean"] == [(1, 1.0), (2, 2.0), (3, 3.0)]
    live.close()
    live.close()  # a second close does nothing
    with pytest.raises(RuntimeError):
        live.write(np.array([4]), {"loss": np.array([[[4.0]]])})


def test_per_run_series_only_up_to_the_limit(tmp_path):
    seeds = PER_RUN_LIMIT // 2
    env_steps, metrics = sweep_chunk(2, seeds, 2)
    small, large = tmp_path / "small", tmp_path / "large"
    with LiveLog(small, ["a", "b"], seeds) as live:  # 2 * seeds = PER_RUN_LIMIT runs
        live.write(env_steps, {"loss": metrics["loss"]})
    env_steps, metrics = sweep_chunk(2, seeds + 1, 2)
    with LiveLog(large, ["a", "b"], seeds + 1) as live:
        live.write(env_steps, {"loss": metrics["loss"]})

    small_tags, large_tags = set(read_scalars(small)), set(read_scalars(large))
    assert {f"loss/b/seed_{s}" for s in range(seeds)} <= small_tags
    assert large_tags == {"loss/a/mean", "loss/b/mean"}


def test_per_run_can_be_forced_either_way(tmp_path):
    env_steps, metrics = sweep_chunk(1, 2, 2)
    with LiveLog(tmp_path / "off", ["x"], 2, per_run=False) as live:
        live.write(env_steps, {"loss": metrics["loss"]})
    assert set(read_scalars(tmp_path / "off")) == {"loss/x/mean"}
    env_steps, metrics = sweep_chunk(1, PER_RUN_LIMIT + 1, 1)
    with LiveLog(tmp_path / "on", ["x"], PER_RUN_LIMIT + 1, per_run=True) as live:
        live.write(env_steps, {"loss": metrics["loss"]})
    assert f"loss/x/seed_{PER_RUN_LIMIT}" in read_scalars(tmp_path / "on")


def test_resuming_with_purge_step_shows_each_step_once(tmp_path):
    steps = np.arange(1, 11)
    with LiveLog(tmp_path, [""], 2) as live:
        live.write(steps, {"loss": np.broadcast_to(steps.astype(float), (1, 2, 10))})
    # The process dies after step 10; its checkpoint was at step 6. The resumed process
    # starts in the same second, writes 6..10 again, with different values.
    with LiveLog(tmp_path, [""], 2, purge_step=6) as live:
        live.write(steps[5:], {"loss": np.broadcast_to(-steps[5:].astype(float), (1, 2, 5))})

    assert len(list((tmp_path / "tensorboard").iterdir())) == 2
    scalars = read_scalars(tmp_path)
    expected = [(s, float(s)) for s in range(1, 6)] + [(s, -float(s)) for s in range(6, 11)]
    assert scalars["loss/mean"] == expected
    assert scalars["loss/seed_1"] == expected


def test_shape_mismatch_is_refused(tmp_path):
    with LiveLog(tmp_path, ["a", "b"], 3) as live:
        with pytest.raises(ValueError, match="'loss' has shape"):
            live.write(np.arange(4), {"loss": np.zeros((2, 3, 5))})
        with pytest.raises(ValueError, match="env_steps"):
            live.write(np.zeros((2, 4)), {"loss": np.zeros((2, 3, 4))})
        live.write(np.arange(4), {})  # a chunk without metrics writes nothing
    assert read_scalars(tmp_path) == {}


def test_importing_live_imports_neither_jax_nor_the_loggers():
    code = (
        "import sys, purejaxrl.live\n"
        "loaded = {'jax', 'tensorboardX', 'tensorboard', 'wandb'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_wandb_is_a_config_error_naming_the_extra(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb" or name.startswith("wandb."):
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(ConfigError) as error:
        LiveLog(tmp_path, [""], 1, wandb_project="p")
    assert str(error.value) == WANDB_MISSING
    assert "pip install 'purejaxrl[wandb]'" in str(error.value)
    assert not (tmp_path / "tensorboard").exists()  # nothing opened before the check
    LiveLog(tmp_path, [""], 1).close()  # without a project, wandb is not needed


class FakeRun:
    def __init__(self):
        self.logged: list[tuple[int, dict]] = []
        self.exit_code = None

    def log(self, data, step, commit):
        assert commit
        self.logged.append((step, dict(data)))

    def finish(self, exit_code=0):
        self.exit_code = exit_code


def fake_wandb(monkeypatch) -> types.SimpleNamespace:
    """Puts a stand-in wandb module in sys.modules; returns what it records."""
    record = types.SimpleNamespace(init_kwargs=None, run=FakeRun())

    def init(**kwargs):
        record.init_kwargs = kwargs
        return record.run

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    return record


def test_wandb_gets_the_tensorboard_scalars_at_env_steps(tmp_path, monkeypatch):
    record = fake_wandb(monkeypatch)
    env_steps, metrics = sweep_chunk(2, 2, 4)
    config = {"algo": "ppo", "lr": [0.0003, 0.001]}
    with LiveLog(
        tmp_path,
        ["lr=0.0003", "lr=0.001"],
        2,
        wandb_project="proj",
        wandb_config=config,
        run_name="ppo-cartpole",
    ) as live:
        live.write(env_steps, metrics)

    assert record.init_kwargs == {
        "project": "proj",
        "config": config,
        "name": "ppo-cartpole",
        "dir": str(tmp_path),
    }
    assert record.run.exit_code == 0
    scalars = read_scalars(tmp_path)
    from_wandb: dict[str, list[tuple[int, float]]] = {}
    for step, row in record.run.logged:
        assert all(not math.isnan(v) for v in row.values())
        for tag, value in row.items():
            from_wandb.setdefault(tag, []).append((step, value))
    assert set(from_wandb) == set(scalars)
    for tag, series in from_wandb.items():
        np.testing.assert_allclose(series, scalars[tag], rtol=1e-6)


def test_wandb_logs_means_only_above_the_per_run_limit(tmp_path, monkeypatch):
    record = fake_wandb(monkeypatch)
    env_steps, metrics = sweep_chunk(1, 3, 2)
    with LiveLog(tmp_path, ["x"], 3, per_run=False, wandb_project="proj") as live:
        live.write(env_steps, {"loss": metrics["loss"]})
    assert {tag for _, row in record.run.logged for tag in row} == {"loss/x/mean"}


def test_an_exception_marks_the_wandb_run_failed(tmp_path, monkeypatch):
    record = fake_wandb(monkeypatch)
    with pytest.raises(KeyboardInterrupt), LiveLog(tmp_path, [""], 1, wandb_project="p"):
        raise KeyboardInterrupt
    assert record.run.exit_code == 1


def test_wandb_offline_run(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "data"))
    labels = ["lr=0.0003", "lr=0.001"]
    live = LiveLog(tmp_path, labels, 2, wandb_project="purejaxrl-test", wandb_config={"lr": 1})
    env_steps, metrics = sweep_chunk(2, 2, 3)
    metrics["episode_return"][:, :, -1] = [[1.0, 2.0], [3.0, np.nan]]
    live.write(env_steps, metrics)

    run = wandb.run
    assert run is not None and run.offline
    summary = dict(run.summary)
    assert summary["_step"] == env_steps[-1]
    assert summary["episode_return/lr=0.0003/mean"] == pytest.approx(1.5)
    assert summary["episode_return/lr=0.001/mean"] == pytest.approx(3.0)
    assert summary["episode_return/lr=0.001/seed_0"] == pytest.approx(3.0)
    assert summary["loss/lr=0.001/seed_1"] == pytest.approx(float(metrics["loss"][1, 1, -1]))
    assert dict(run.config) == {"lr": 1}
    live.close()

    (offline_run,) = (tmp_path / "wandb").glob("offline-run-*")
    assert list(offline_run.glob("run-*.wandb"))
