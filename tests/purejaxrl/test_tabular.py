"""Value iteration and tabular Q-learning / SARSA: the lecture's worked update, Q*, convergence."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import envs, runner
from purejaxrl.config import ConfigError
from purejaxrl.envs.gridworld import MAPS
from purejaxrl.q_learning import (
    QLearningConfig,
    make_learner,
    q_learning_target,
    sarsa_target,
    td_update,
)
from purejaxrl.value_iteration import bellman_optimality, value_iteration


@pytest.mark.parametrize("jit", [False, True])
def test_the_lecture_worked_update_and_the_next_one(jit):
    update = jax.jit(td_update) if jit else td_update
    target_fn = jax.jit(q_learning_target) if jit else q_learning_target
    # Q = 0, alpha 0.7, gamma 0.99, reward -1 into a tile whose Q-row is all zeros -> -0.7
    q1 = update(0.0, target_fn(-1.0, 0.99, jnp.zeros(4)), 0.7)
    assert float(q1) == pytest.approx(-0.7)
    # the same pair again, now Q(s', .) = (0, 2, 0, 0): 0.3 * -0.7 + 0.7 * (-1 + 0.99 * 2) = 0.476
    q2 = update(q1, target_fn(-1.0, 0.99, jnp.array([0.0, 2.0, 0.0, 0.0])), 0.7)
    assert float(q2) == pytest.approx(0.3 * -0.7 + 0.7 * 0.98)


def test_sarsa_bootstraps_from_the_next_action_not_the_max():
    q_next = jnp.array([1.0, 5.0, -2.0, 0.0])
    assert float(sarsa_target(1.0, 0.5, q_next, 2)) == pytest.approx(0.0)
    assert float(q_learning_target(1.0, 0.5, q_next)) == pytest.approx(3.5)
    assert float(q_learning_target(1.0, 0.0, q_next)) == pytest.approx(1.0)  # terminal


@pytest.mark.parametrize("name", list(MAPS))
@pytest.mark.parametrize("slip", [0.0, 0.1])
def test_value_iteration_contracts_and_solves_the_bellman_equation(name, slip):
    mdp = envs.Gridworld(name, slip=slip).mdp()
    gamma = 0.9
    result = value_iteration(mdp, gamma, tol=1e-12)
    v_next = np.where(mdp.terminal, 0.0, result.q.max(1))
    np.testing.assert_allclose(result.q, mdp.R + gamma * mdp.P @ v_next, atol=1e-6)
    # from Q = 0, every sweep shrinks the sup-norm distance to Q* by at least gamma
    q, distances = np.zeros_like(result.q), []
    for _ in range(30):
        distances.append(np.abs(q - result.q).max())
        q = np.asarray(bellman_optimality(jnp.asarray(q), mdp.P, mdp.R, mdp.terminal, gamma))
    for before, after in zip(distances[:-1], distances[1:], strict=True):
        assert after <= gamma * before + 1e-6


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_4x4_values_are_minus_the_discounted_steps_to_the_nearest_corner(gamma):
    result = value_iteration(envs.Gridworld("4x4").mdp(), gamma)
    steps = np.array([[min(r + c, 6 - r - c) for c in range(4)] for r in range(4)])
    expected = -np.array([[sum(gamma**k for k in range(d)) for d in row] for row in steps])
    np.testing.assert_allclose(result.v.reshape(4, 4), expected, atol=1e-6)


def optimal_actions(q_star, tol=1e-6):
    return np.abs(q_star - q_star.max(1, keepdims=True)) <= tol


@pytest.mark.parametrize("name", list(MAPS))
def test_q_learning_finds_q_star_on_every_deterministic_map_for_95_of_100_seeds(name):
    config = QLearningConfig(
        env_id=f"Gridworld-{name}-v0", total_timesteps=20_000, steps_per_update=2_000,
        num_seeds=100, alpha=1.0, gamma=0.9, epsilon_end=1.0, progress=False, compilation_cache="",
    )  # fmt: skip
    env, _ = envs.make(config.env_id)
    vi = value_iteration(env.mdp(), config.gamma)
    q = runner.run(config, make_learner, "q_learning", write=False).exported["q"]
    errors = np.abs(q - vi.q).max(axis=(1, 2))
    non_terminal = ~env.mdp().terminal
    greedy_ok = optimal_actions(vi.q)[np.arange(len(vi.q)), q.argmax(2)][:, non_terminal].all(1)
    assert np.mean((errors < 0.05) & greedy_ok) >= 0.95, np.sort(errors)[-10:]


SLIPPERY_BUDGETS = {"4x4": 500_000, "Corridor": 100_000, "Maze": 500_000, "Lizard": 500_000}


@pytest.mark.learning
@pytest.mark.parametrize("name", list(SLIPPERY_BUDGETS))
def test_q_learning_on_slippery_maps(name):
    """Uniform behaviour (Q-learning is off-policy) and step sizes alpha / n**0.8 per pair.

    The slippery lizard, whose rewards are ten times larger, only gets its greedy policy checked:
    at this budget its max |Q - Q*| is about 0.25 (median over seeds), not below 0.05.
    """
    config = QLearningConfig(
        env_id=f"Gridworld-{name}-Slippery-v0", total_timesteps=SLIPPERY_BUDGETS[name],
        steps_per_update=SLIPPERY_BUDGETS[name] // 10, num_seeds=100, alpha=1.0, alpha_decay=0.8,
        gamma=0.9, epsilon_end=1.0, progress=False, compilation_cache="",
    )  # fmt: skip
    env, _ = envs.make(config.env_id)
    mdp = env.mdp()
    vi = value_iteration(mdp, config.gamma)
    q = runner.run(config, make_learner, "q_learning", write=False).exported["q"]
    errors = np.abs(q - vi.q).max(axis=(1, 2))
    greedy_ok = optimal_actions(vi.q)[np.arange(len(vi.q)), q.argmax(2)][:, ~mdp.terminal].all(1)
    accurate = errors < 0.05 if name != "Lizard" else True
    assert np.mean(accurate & greedy_ok) >= 0.95, (np.sort(errors)[-10:], greedy_ok.mean())


def test_sarsa_learns_to_walk_to_the_treasure_and_seeds_differ():
    base = QLearningConfig(
        env_id="Gridworld-Corridor-v0", total_timesteps=40_000, steps_per_update=2_000,
        num_seeds=4, sarsa=True, gamma=0.9, alpha_decay=0.7, epsilon_end=0.05, progress=False, compilation_cache="",
    )  # fmt: skip
    result = runner.run(base, make_learner, "q_learning", write=False)
    q = result.exported["q"]
    assert np.all(q[:, :5].argmax(2) == 1)  # always right, towards the treasure
    assert not np.allclose(q[0], q[1])
    assert result.summary["results"][0]["final_return_mean"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"alpha": 0.0}, "alpha=0.0: must be a finite number in (0.0, 1.0]"),
        ({"alpha": 1.5}, "alpha=1.5"),
        ({"gamma": -0.1}, "gamma=-0.1: must be a finite number in [0.0, 1.0]"),
        (
            {"env_id": "CartPole-v1"},
            "env_id='CartPole-v1': tabular methods need integer observations",
        ),
        ({"env_id": "Gridworld-Mze-v0"}, "closest: Gridworld-Maze-v0"),
        (
            {"total_timesteps": 999},
            "total_timesteps=999: must be >= steps_per_update=1000 (one update)",
        ),
    ],
)
def test_bad_input(overrides, message):
    with pytest.raises(ConfigError, match=None) as error:
        QLearningConfig(**overrides).validate()
    assert message in str(error.value)


@pytest.mark.process
def test_cli_writes_the_value_picture_and_rejects_bad_alpha(tmp_path):
    import subprocess
    import sys

    args = [sys.executable, "-m", "purejaxrl.q_learning", "--env-id", "Gridworld-Lizard-v0"]
    args += ["--total-timesteps", "2000", "--steps-per-update", "500", "--num-seeds", "3"]
    args += ["--no-progress", "--compilation-cache", ""]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "max |Q - Q*|" in proc.stdout
    (run_dir,) = (tmp_path / "runs" / "Gridworld-Lizard-v0" / "q_learning").iterdir()
    assert (run_dir / "values.png").read_bytes()[:4] == b"\x89PNG"
    bad = subprocess.run(
        [*args, "--alpha", "0.5", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "alpha=2.0: must be a finite number in (0.0, 1.0]" in bad.stderr
