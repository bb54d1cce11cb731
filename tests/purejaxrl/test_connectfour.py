"""Connect four's fixed opponents and matches (`purejaxrl/connectfour.py`): the 2-ply player wins
when it can, blocks when it must, never walks into an immediate loss it could avoid and plays
legal moves only; a match counts outcomes for the agent's side."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("mctx")
pytest.importorskip("pgx")

from purejaxrl import connectfour as c4  # noqa: E402
from purejaxrl import envs  # noqa: E402

GAME = envs.pgx_env("connect_four")
step = jax.jit(GAME.step)
two_ply = jax.jit(jax.vmap(lambda key, state: c4.two_ply_move(GAME, key, state), (0, None)))


def after(moves: list[int]):
    """The pgx state after playing the columns `moves` from the empty board."""
    state = GAME.init(jax.random.key(0))
    for move in moves:
        state = step(state, jnp.int32(move))
    return state


def choices(state, tries: int = 64) -> set[int]:
    """The moves the 2-ply player makes in `state` over `tries` keys."""
    return set(np.asarray(two_ply(jax.random.split(jax.random.key(1), tries), state)).tolist())


def test_the_two_ply_player_takes_an_immediate_win_before_blocking():
    # the first player has three in column 0, the second three in column 1; the first to move
    state = after([0, 1, 0, 1, 0, 1])
    assert choices(state) == {0}


def test_the_two_ply_player_blocks_an_immediate_threat():
    # the first player threatens column 0 (three stacked); the second to move has no win
    state = after([0, 1, 0, 1, 0])
    assert choices(state) == {0}
    # a threat on the bottom row open at one end only: the first player holds columns 1-3, the
    # second 0 and 6; the second to move must play 4
    state = after([1, 0, 2, 6, 3])
    assert choices(state) == {4}


def test_the_two_ply_player_does_not_fill_the_cell_below_the_opponents_win():
    # the first player (F) gets three on the second row from the bottom, columns 3-5, whose
    # fourth cell (column 2 or 6) is each above an empty bottom cell; the second (S) is to move,
    # and a disc of its own in column 2 or 6 would let F win on top of it
    state = after([4, 3, 3, 5, 5, 0, 4])
    board = np.asarray(state._x.board).reshape(6, 7)  # row 0 the top; 0 = F, 1 = S, -1 empty
    np.testing.assert_array_equal(board[5], [1, -1, -1, 1, 0, 1, -1])
    np.testing.assert_array_equal(board[4], [-1, -1, -1, 0, 0, 0, -1])
    assert (board[:4] == -1).all() and int(state._x.color) == 1
    assert choices(state) == {0, 1, 3, 4, 5}


def test_on_random_positions_the_two_ply_player_is_legal_wins_and_avoids_immediate_losses():
    """The three rules checked on 8 random games' positions against a plain re-play of every
    move and reply with pgx."""

    def random_games(key):
        def ply(state, key):
            move = c4.random_move(GAME, key, state)
            return jax.lax.cond(
                state.terminated, lambda: state, lambda: GAME.step(state, move)
            ), state

        return jax.lax.scan(ply, GAME.init(key), jax.random.split(key, 40))[1]

    positions = jax.jit(jax.vmap(random_games))(jax.random.split(jax.random.key(5), 8))
    positions = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), positions)  # (8 * 40, ...)
    going = ~np.asarray(positions.terminated)
    keys = jax.random.split(jax.random.key(2), going.size)
    moves = np.asarray(jax.jit(jax.vmap(lambda k, s: c4.two_ply_move(GAME, k, s)))(keys, positions))

    @jax.jit
    @jax.vmap
    def outcomes(state):
        """(A,) the mover's immediate win per move; (A,) whether the opponent can then win."""
        mover = state.current_player
        nxt = jax.vmap(GAME.step, (None, 0))(state, jnp.arange(7))
        replies = jax.vmap(lambda s: jax.vmap(GAME.step, (None, 0))(s, jnp.arange(7)))(nxt)
        won = replies.rewards[:, :, 1 - mover] == 1
        lose = won & nxt.legal_action_mask & ~nxt.terminated[:, None]
        return nxt.rewards[:, mover] == 1, lose.any(axis=1)

    legal = np.asarray(positions.legal_action_mask)  # (P, A)
    win, lose = (np.asarray(x) for x in outcomes(positions))
    win, safe = win & legal, legal & ~lose
    chosen = np.eye(7, dtype=bool)[moves]  # (P, A)
    assert (chosen & legal)[going].any(axis=1).all()
    must_win = going & win.any(axis=1)
    assert (chosen & win)[must_win].any(axis=1).all()
    can_avoid = going & ~win.any(axis=1) & safe.any(axis=1)
    assert (chosen & safe)[can_avoid].any(axis=1).all()
    checked = {"win": must_win.sum(), "avoid": (can_avoid & (safe.sum(1) < legal.sum(1))).sum()}
    assert checked["win"] >= 5 and checked["avoid"] >= 5, checked  # both rules were exercised


def leftmost(key, state):
    """A batch player: the leftmost legal column."""
    del key
    return jnp.argmax(state.legal_action_mask, axis=-1)


def test_a_match_counts_the_outcome_for_the_agents_side():
    """Leftmost against leftmost fills columns bottom up in turn, so the first mover owns the
    bottom row and wins on its fourth bottom cell (column 3): +1 for the agent moving first, -1
    for the agent moving second, whichever pgx player id moves first."""
    play = jax.jit(c4.play_games, static_argnums=(0, 1, 2, 4, 5))
    first = play(GAME, leftmost, leftmost, jax.random.key(0), 16, True)
    second = play(GAME, leftmost, leftmost, jax.random.key(0), 16, False)
    np.testing.assert_array_equal(first, np.ones(16))
    np.testing.assert_array_equal(second, -np.ones(16))
    assert c4.rates(np.stack([first, second])) == {"win": 0.5, "draw": 0.0, "loss": 0.5}
