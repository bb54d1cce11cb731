"""Tic-tac-toe solved exactly: minimax values of every legal position, in plain Python and numpy.

The check that AlphaZero (`purejaxrl/alphazero.py`) plays perfectly: a position is a tuple of 9
cells (0 empty, 1 X, 2 O; cells 0 1 2 / 3 4 5 / 6 7 8), X moves first, so X is to move when the
counts are equal. A value is the game's result under perfect play by both sides, from the point
of view of the player to move: +1 win, 0 draw, -1 loss. The 5,478 legal positions (the empty
board and every position reachable from it by legal moves, stopping at a win or a full board)
are solved by memoised recursion in well under a second.
"""

from __future__ import annotations

import functools

import numpy as np

Board = tuple[int, ...]

LINES = (
    (0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6),
)  # fmt: skip
EMPTY: Board = (0,) * 9


def to_move(board: Board) -> int:
    """1 (X) or 2 (O): the player whose turn it is."""
    return 1 if board.count(1) == board.count(2) else 2


def winner(board: Board) -> int:
    """1 or 2 if that player has three in a line, else 0."""
    for a, b, c in LINES:
        if board[a] != 0 and board[a] == board[b] == board[c]:
            return board[a]
    return 0


def is_terminal(board: Board) -> bool:
    return winner(board) != 0 or 0 not in board


def play(board: Board, move: int) -> Board:
    """The position after the player to move marks the empty cell `move`."""
    if board[move] != 0:
        raise ValueError(f"cell {move} is taken in {board}")
    return board[:move] + (to_move(board),) + board[move + 1 :]


def legal_moves(board: Board) -> list[int]:
    return [] if is_terminal(board) else [i for i in range(9) if board[i] == 0]


@functools.cache
def value(board: Board) -> int:
    """The minimax value for the player to move: +1, 0 or -1."""
    if winner(board):
        return -1  # the player who just moved has won
    if 0 not in board:
        return 0
    return max(-value(play(board, m)) for m in legal_moves(board))


def move_values(board: Board) -> dict[int, int]:
    """Each legal move's value for the player making it."""
    return {m: -value(play(board, m)) for m in legal_moves(board)}


def optimal_moves(board: Board) -> list[int]:
    """The moves that keep the position's value (the perfect player's choices)."""
    values = move_values(board)
    return [m for m, v in values.items() if v == value(board)]


@functools.cache
def legal_positions() -> tuple[Board, ...]:
    """Every position reachable from the empty board (5,478 of them), in breadth-first order."""
    seen, frontier = {EMPTY}, [EMPTY]
    while frontier:
        nxt = []
        for board in frontier:
            for m in legal_moves(board):
                child = play(board, m)
                if child not in seen:
                    seen.add(child)
                    nxt.append(child)
        frontier = nxt
    return tuple(sorted(seen, key=lambda b: (9 - b.count(0), b)))


def decision_positions() -> np.ndarray:
    """(P, 9) int: the legal positions that are not over (someone must move): 4,520 of them."""
    return np.array([b for b in legal_positions() if not is_terminal(b)], dtype=np.int32)


def count_mistakes(moves: np.ndarray) -> dict[str, int]:
    """How a player's moves at every position of `decision_positions()` compare with perfect play.

    `losing` counts the positions where the move turns a position the mover can at least draw
    into a lost one. With none, the player never loses against anyone, the perfect player
    included, from any position its side is not already lost in, playing either side: by
    induction on the moves left, every position it leaves keeps its value >= 0 for it, and no
    reply of the opponent can lower a minimax value. `suboptimal` also counts moves that give up
    value without losing (a win played into a draw).

    Args:
        moves: (4520,) int, the player's move in each row of `decision_positions()`.
    """
    losing = suboptimal = 0
    for board, move in zip(decision_positions(), moves, strict=True):
        board = tuple(int(c) for c in board)
        before, after = value(board), move_values(board).get(int(move), -1)  # illegal: lost
        losing += before >= 0 and after < 0
        suboptimal += after < before
    return {"positions": len(moves), "losing": losing, "suboptimal": suboptimal}
