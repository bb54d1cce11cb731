"""The gridworld against a plain NumPy reference, its exact MDP, and its map checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import envs
from purejaxrl.envs.gridworld import MAPS, MOVES, Gridworld, MapError, parse_map


def reference_step(grid, cell, executed):
    """One move on the character grid, written out independently of the env's tables."""
    r, c = cell[0] + MOVES[executed][0], cell[1] + MOVES[executed][1]
    h, w = grid.shape
    if not (0 <= r < h and 0 <= c < w) or grid.layout[r][c] == "#":
        return cell, grid.legend["."].reward, False
    tile = grid.legend[grid.layout[r][c]]
    return (r, c), tile.reward, tile.terminal


@pytest.mark.parametrize("name", list(MAPS))
def test_deterministic_transitions_match_the_numpy_reference(name):
    env = Gridworld(name)
    params = env.default_params
    step = jax.jit(env.step)
    rng = np.random.default_rng(0)
    key = jax.random.key(1)
    obs, state = env.reset(key, params)
    for t in range(300):
        action = int(rng.integers(4))
        cell = env.grid.cells[int(obs)]
        expected_cell, expected_reward, expected_terminal = reference_step(env.grid, cell, action)
        obs, state, reward, terminated, truncated, info = step(
            jax.random.fold_in(key, t), state, action, params
        )
        assert env.grid.cells[int(info["final_observation"])] == expected_cell
        assert float(reward) == expected_reward
        assert bool(terminated) == expected_terminal


def test_slip_replaces_the_move_by_each_other_move_equally_often():
    env = Gridworld("Maze", slip=0.3)
    state = env.reset(jax.random.key(0), env.default_params)[1]
    keys = jax.random.split(jax.random.key(1), 20_000)
    step = jax.vmap(lambda k: env.step(k, state, 1, env.default_params)[5]["executed_action"])
    counts = np.bincount(np.asarray(step(keys)), minlength=4) / len(keys)
    np.testing.assert_allclose(counts, [0.1, 0.7, 0.1, 0.1], atol=0.015)


@pytest.mark.parametrize("name", list(MAPS))
@pytest.mark.parametrize("slip", [0.0, 0.2])
def test_mdp_arrays_agree_with_sampled_steps(name, slip):
    env = Gridworld(name, slip=slip)
    mdp = env.mdp()
    np.testing.assert_allclose(mdp.P.sum(axis=2), 1.0)
    S = len(env.grid.cells)
    s = int(np.flatnonzero(~mdp.terminal)[0])
    state = env.reset(jax.random.key(0), env.default_params)[1].replace(pos=jnp.int32(s))
    keys = jax.random.split(jax.random.key(2), 20_000)
    for a in range(4):
        step = jax.vmap(lambda k, a=a: env.step(k, state, a, env.default_params))
        _, _, reward, _, _, info = step(keys)
        freq = np.bincount(np.asarray(info["final_observation"]), minlength=S) / len(keys)
        np.testing.assert_allclose(freq, mdp.P[s, a], atol=0.015)
        np.testing.assert_allclose(np.asarray(reward).mean(), mdp.R[s, a], atol=0.05 + 0.3 * slip)


def test_terminal_states_are_absorbing_with_no_reward():
    mdp = Gridworld("Lizard").mdp()
    for t in np.flatnonzero(mdp.terminal):
        assert np.all(mdp.P[t, :, t] == 1) and np.all(mdp.R[t] == 0)


def test_registered_ids_observations_and_rendering():
    env, params = envs.make("Gridworld-Lizard-v0")
    obs, state = env.reset(jax.random.key(0), params)
    assert int(obs) == 6  # the start S, bottom-left
    assert env.render_text(int(obs)) == "c..\n.B.\nA.C"
    assert env.render_rgb(int(obs)).shape == (72, 72, 3)
    onehot, _ = envs.make("Gridworld-Maze-v0", obs="onehot")
    assert onehot.observe(None, state, None, params).shape == (16,)
    slippery, _ = envs.make("Gridworld-Maze-Slippery-v0")
    assert slippery.slip == 0.1


@pytest.mark.parametrize(
    "text,message",
    [
        ("..T\n---\n.: 0\nT: 1 terminal", None),
        ("..T\n.T\n---\n.: 0\nT: 1 terminal", "ragged rows"),
        ("..X\n---\n.: 0", "unknown tile character 'X'"),
        ("TT\n---\n.: 0\nT: 1 terminal", "no start"),
        ("S.#T\n---\n.: 0\nS: 0\nT: 1 terminal", "no terminal tile can be reached"),
        ("S..\n---\n.: 0\nS: 0", "no terminal tile"),
        ("S.T\n.: 0", "'---'"),
    ],
)
def test_invalid_maps_raise_clear_errors(text, message):
    if message is None:
        parse_map(text)
        return
    with pytest.raises(MapError, match=message):
        parse_map(text)


def test_unknown_map_and_bad_slip():
    with pytest.raises(MapError, match="unknown map 'Mze'"):
        Gridworld("Mze")
    with pytest.raises(MapError, match="slip=1.5"):
        Gridworld("Maze", slip=1.5)
