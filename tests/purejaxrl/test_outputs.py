"""Run outputs and statistics: final returns, curves, atomic writes, non-finite losses."""

import json

import numpy as np
import pytest

from purejaxrl import outputs, runner
from purejaxrl.config import Grid
from purejaxrl.ppo import PPOConfig
from purejaxrl.stats import bootstrap_ci, iqm, mean_and_band


def test_final_return_weights_the_episodes_of_the_last_updates():
    returns = np.full((1, 40), np.nan)
    counts = np.zeros((1, 40), int)
    returns[0, 37], counts[0, 37] = 10.0, 1  # the last 5% of 40 updates = the last 2
    returns[0, 38], counts[0, 38] = 20.0, 3
    returns[0, 39], counts[0, 39] = 40.0, 1
    final = outputs.final_returns({"episode_return": returns, "episodes": counts})
    assert final[0] == pytest.approx((20 * 3 + 40) / 4)
    empty = outputs.final_returns(
        {"episode_return": np.full((1, 4), np.nan), "episodes": np.zeros((1, 4))}
    )
    assert np.isnan(empty[0])


def test_forward_fill_carries_the_latest_value():
    x = np.array([[np.nan, 1.0, np.nan, 3.0, np.nan]])
    np.testing.assert_array_equal(outputs.forward_fill(x), [[np.nan, 1.0, 1.0, 3.0, 3.0]])


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13])
def test_iqm_is_scipy_s_quarter_trimmed_mean_along_any_axis(n):
    from scipy import stats

    x = np.random.default_rng(n).normal(size=(n, 3)) * 100
    np.testing.assert_allclose(iqm(x, axis=0), stats.trim_mean(x, 0.25, axis=0), atol=1e-9)
    np.testing.assert_allclose(iqm(x.T), stats.trim_mean(x.T, 0.25, axis=-1), atol=1e-9)
    assert np.isnan(iqm(np.array([1.0, np.nan, 3.0, 4.0])))


def test_iqm_and_bootstrap_intervals():
    assert iqm(np.array([0.0, 1, 2, 3, 4, 5, 6, 100])) == pytest.approx(3.5)
    low, high = bootstrap_ci(np.arange(20.0))
    assert low < 9.5 < high and high - low < 10
    assert bootstrap_ci(np.array([3.0])) is None
    mean, lo, hi = mean_and_band(np.array([[1.0, 2.0], [3.0, np.nan]]))
    np.testing.assert_allclose(mean, [2.0, 2.0])
    assert np.all(lo <= mean) and np.all(mean <= hi)


def test_atomic_writes_leave_no_temporary_files_and_replace_whole(tmp_path):
    path = tmp_path / "summary.json"
    outputs.atomic_write_json(path, {"a": 1})
    outputs.atomic_write_json(path, {"a": np.float32(2.5), "b": np.arange(2)})
    assert path.read_text().strip().startswith("{")
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    assert '"a": 2.5' in path.read_text()


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "summary.json"
    outputs.atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        outputs.atomic_write_json(path, {"a": object()})
    assert '"a": 1' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_divergence_is_found_at_its_update_and_masks_the_run_from_there():
    loss = np.zeros((5, 3))  # (update, run)
    loss[3, 2] = np.nan
    loss[0, 1] = np.inf
    steps = np.ones((5, 3), np.int32)
    steps[0, 1] = 0  # no gradient step: a NaN loss there is by design, not divergence
    found = runner.first_divergence({"loss": loss, "gradient_steps": steps}, first_update=10)
    np.testing.assert_array_equal(found, [-1, -1, 13])
    returns = np.arange(15.0).reshape(5, 3)
    masked = runner.mask_diverged({"episode_return": returns, "episodes": steps}, found, 10)
    assert np.isnan(masked["episode_return"][3:, 2]).all()
    np.testing.assert_array_equal(masked["episode_return"][:3, 2], returns[:3, 2])
    np.testing.assert_array_equal(masked["episode_return"][:, :2], returns[:, :2])
    assert masked["episodes"][3:, 2].tolist() == [0, 0]


def test_a_diverged_run_counts_in_the_statistics_at_the_worst_return_recorded():
    """Dropping diverged seeds would report 100 for a method that failed one seed in three."""
    returns = np.full((2, 3, 20), 100.0)
    returns[0, 1, 5:] = np.nan  # run (0, 1) diverged at update 5: masked from there
    returns[0, 1, 2] = 12.0  # the worst return any run recorded
    returns[1, 0, 3] = 30.0
    metrics = {"episode_return": returns, "episodes": np.ones((2, 3, 20), int)}
    diverged = np.array([[False, True, False], [False, False, False]])
    first, second = outputs.summarize(metrics, ["a", "b"], diverged)
    assert first["final_return_per_seed"] == [100.0, None, 100.0]
    assert first["diverged_seeds"] == 1 and first["diverged_scored_at"] == 12.0
    assert first["final_return_mean"] == pytest.approx((100 + 12 + 100) / 3)
    low, high = first["final_return_ci95"]
    assert low == pytest.approx(12.0) and high == pytest.approx(100.0)
    assert second["final_return_mean"] == 100.0 and second["diverged_scored_at"] is None
    every = np.ones((2, 3), bool)
    (row, _) = outputs.summarize(metrics, ["a", "b"], every)
    assert row["final_return_mean"] == 12.0 and row["diverged_seeds"] == 3
    nothing = {"episode_return": np.full((1, 2, 5), np.nan), "episodes": np.zeros((1, 2, 5), int)}
    (row,) = outputs.summarize(nothing, [""], np.ones((1, 2), bool))
    assert row["final_return_mean"] is None and row["diverged_scored_at"] is None
    assert "worst training return" in outputs.FINAL_RETURN_DEFINITION


SUMMARY_KEYS = [
    "algo", "env_id", "status", "updates_done", "num_updates", "num_seeds", "grid_points",
    "env_steps_per_run", "total_timesteps_asked", "total_timesteps_trained",
    "final_return_definition", "results", "diverged", "notes",
    "compile_time_s", "run_time_s", "checkpoint_time_s", "sync_time_s", "steps_per_second",
    "chunk_updates", "versions", "device", "host",
]  # fmt: skip


def test_summary_json_keeps_its_keys_and_names_the_diverged_runs(tmp_path):
    returns = np.full((2, 3, 20), 50.0)
    metrics = {"episode_return": returns, "episodes": np.ones((2, 3, 20), int)}
    diverged_at = np.array([[-1, -1, -1], [-1, 7, -1]])
    times = outputs.Timings(compile=2.0, run=4.0, checkpoint=0.5, sync=0.25)
    summary = outputs.run_summary(
        "ppo", "CartPole-v1", "complete", metrics, ["lr=0.1", "lr=1"], diverged_at,
        first_update=10, num_updates=20, steps_per_update=8, chunk_updates=5, notes=[],
        times=times,
    )  # fmt: skip
    assert list(summary) == SUMMARY_KEYS  # old run folders are read by these names
    assert summary["updates_done"] == 20 and summary["env_steps_per_run"] == 160
    assert summary["grid_points"] == 2 and summary["num_seeds"] == 3
    assert summary["diverged"] == [{"grid_point": "lr=1", "seed": 1, "update": 7}]
    assert summary["steps_per_second"] == (20 - 10) * 8 * 6 / 4.0
    assert summary["run_time_s"] == 4.0 and summary["sync_time_s"] == 0.25
    steps = np.arange(1, 21) * 8
    outputs.write_results(tmp_path, metrics, diverged_at, steps, summary, ["a", "b"], "t")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "curve.png", "metrics.npz", "summary.json",
    ]  # fmt: skip
    saved = np.load(tmp_path / "metrics.npz")
    np.testing.assert_array_equal(saved["diverged_at"], diverged_at)
    np.testing.assert_array_equal(saved["env_steps"], steps)


def test_grid_is_the_cartesian_product_and_rejects_static_fields():
    grid = Grid.from_values(PPOConfig(), {"lr": [1e-3, 2e-3], "gamma": [0.9, 0.99, 0.999]})
    assert len(grid) == 6 and grid.hparams().lr.shape == (6,)
    assert grid.labels()[-1] == "lr=0.002, gamma=0.999"
    with pytest.raises(ValueError, match="num_envs: not a traced hyperparameter"):
        Grid.from_values(PPOConfig(), {"num_envs": [1, 2]})


def test_a_complete_run_records_a_greedy_evaluation_equal_to_evaluating_its_folder(tmp_path):
    """ "Final return" is the exploring policy's training episodes; summary.json also holds the
    greedy policy's returns, the numbers `purejaxrl evaluate` gives for the same folder."""
    from purejaxrl import cli, evaluate, registry
    from purejaxrl.q_learning import QLearningConfig, make_learner

    config = QLearningConfig(
        **registry.get("q_learning").tiny, num_seeds=2, eval_episodes=3, progress=False,
        compilation_cache="", runs_dir=str(tmp_path), tensorboard=False,
    )  # fmt: skip
    result = runner.run(config, make_learner, "q_learning", grid_values={"alpha": [0.5, 0.1]})
    greedy = json.loads((result.run_dir / "summary.json").read_text())["greedy_evaluation"]
    assert greedy["episodes"] == 3 and "greedy policy" in greedy["definition"]
    by_hand = evaluate.evaluate(result.run_dir, episodes=3, seed=config.seed)["returns"]
    for row, expected in zip(greedy["results"], by_hand.mean(axis=-1), strict=True):
        np.testing.assert_allclose(row["greedy_return_per_seed"], expected, rtol=1e-6)
        assert row["greedy_return_mean"] == pytest.approx(expected.mean())
    table = cli.format_table(result)
    assert "greedy" in table and "training episodes (exploring policy)" in table
    none = evaluate.greedy_summary(
        "q_learning", config, result.exported, ["a", "b"], np.zeros((2, 2), bool), [], episodes=0
    )
    assert none is None  # eval_episodes=0


def test_the_table_names_a_seed_without_a_final_return_and_counts_in_words():
    from purejaxrl import cli

    returns = np.full((1, 2, 40), 20.0)
    episodes = np.ones((1, 2, 40), int)
    returns[0, 1, 35:], episodes[0, 1, 35:] = np.nan, 0  # seed 1: no episode in the last 5%
    metrics = {"episode_return": returns, "episodes": episodes}
    summary = outputs.run_summary(
        "ppo", "CartPole-v1", "complete", metrics, [""], np.full((1, 2), -1),
        first_update=0, num_updates=40, steps_per_update=8, chunk_updates=5, notes=[],
        times=outputs.Timings(compile=1.0, run=1.0),
    )  # fmt: skip
    result = runner.RunResult(None, None, metrics, None, None, summary, None)
    table = cli.format_table(result)
    assert "ppo on CartPole-v1: 2 seeds x 1 grid point, 320 env steps each" in table
    assert "default, seed 1: no episode ended in the last 5% of updates" in table
    assert "seed 0: no episode" not in table


def test_a_curve_of_one_point_is_drawn_with_a_marker(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    drawn = []
    real_plot = Axes.plot
    monkeypatch.setattr(
        Axes, "plot", lambda self, *a, **k: drawn.append(k) or real_plot(self, *a, **k)
    )
    outputs.plot_curves(tmp_path / "c.png", np.array([8]), np.ones((1, 1, 1)), [""], "t")
    outputs.plot_curves(tmp_path / "d.png", np.array([8, 16]), np.ones((1, 1, 2)), [""], "t")
    assert [k["marker"] for k in drawn] == ["o", None]
    assert drawn[0]["label"] == "1 seed"


def test_a_suite_id_makes_a_run_folder_without_a_colon(tmp_path):
    run_dir = outputs.new_run_dir(tmp_path, "craftax:Craftax-Classic-Symbolic-v1", "ppo")
    assert run_dir.parent.parent.name == "craftax_Craftax-Classic-Symbolic-v1"
    assert ":" not in str(run_dir.relative_to(tmp_path))
    assert outputs.new_run_dir(tmp_path, "CartPole-v1", "ppo").parent.parent.name == "CartPole-v1"
