"""Connect four's fixed opponents (a random player, a 2-ply search player) and matches of an
AlphaZero agent against them, all in jnp over pgx states: the check of `alphazero` on
connect_four, whose figures are in benchmarks/results/alphazero_connect_four.json.

    python benchmarks/alphazero_connect_four.py   # trains, evaluating against both as it goes

Reading map:
  random_move, two_ply_move  an opponent's move in one pgx state (vmap for a batch)
  play_games                 num_games games of a batched agent against a batched opponent,
                             the agent moving first or second, one `lax.scan` over the plies
  make_evaluation            one jitted program: the search (greedy, at its evaluation budget)
                             and the raw network against each opponent, from both sides
  rates                      the win / draw / loss rates of a match's outcomes
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import envs
from purejaxrl.alphazero import AlphaZeroNet, masked_logits, search

ENV_ID = "connect_four"
MAX_PLIES = 42
"""The cells of the 6 x 7 board: no game lasts longer."""

Mover = Callable[[jax.Array, object], jax.Array]
"""`move(key, state) -> action`: a player of a batch of pgx states (leading axis G), (G,)."""


def _uniform_among(key: jax.Array, allowed: jax.Array) -> jax.Array:
    """A uniformly random index among the true entries of `allowed` (A,) (at least one)."""
    return jax.random.categorical(key, jnp.where(allowed, 0.0, -jnp.inf))


def random_move(game, key: jax.Array, state) -> jax.Array:
    """A uniformly random legal move in one pgx `state` (no leading axis), () int32."""
    del game
    return _uniform_among(key, state.legal_action_mask)


def two_ply_move(game, key: jax.Array, state) -> jax.Array:
    """The 2-ply player's move in one pgx two-player `state` (no leading axis), () int32.

    It looks one move of its own and one of the opponent's ahead: a move that wins at once if
    there is one; otherwise a move after which the opponent has no immediate win; otherwise any
    legal move (every move loses to a 1-move reply). Ties are broken uniformly at random.
    Works on any pgx game whose win pays the winner +1 (connect_four, tic_tac_toe).
    """
    mover = state.current_player
    actions = jnp.arange(state.legal_action_mask.shape[0])
    legal = state.legal_action_mask  # (A,)
    after = jax.vmap(game.step, in_axes=(None, 0))(state, actions)  # (A, ...) each own move
    wins = legal & (after.rewards[:, mover] == 1.0)  # (A,)

    def opponent_can_win(next_state):
        replies = jax.vmap(game.step, in_axes=(None, 0))(next_state, actions)  # (A, ...)
        opponent = 1 - mover
        won = next_state.legal_action_mask & (replies.rewards[:, opponent] == 1.0)
        return ~next_state.terminated & won.any()

    safe = legal & ~jax.vmap(opponent_can_win)(after)  # (A,)
    allowed = jnp.where(wins.any(), wins, jnp.where(safe.any(), safe, legal))
    return _uniform_among(key, allowed)


def batched(game, player: Callable) -> Mover:
    """`player(game, key, state)` of one state as a `Mover` of a batch."""

    def move(key, state):
        keys = jax.random.split(key, state.current_player.shape[0])
        return jax.vmap(lambda k, s: player(game, k, s))(keys, state)

    return move


def play_games(
    game, agent: Mover, opponent: Mover, key: jax.Array, num_games: int, agent_first: bool
) -> jax.Array:
    """`num_games` games of `agent` against `opponent`, the agent moving first (or second) in
    every game. The games run in lockstep, so at each ply one side moves in all of them: only
    its player is called (`lax.cond`). Moves in finished games change nothing (pgx).

    Returns:
        (num_games,) the agent's outcomes: +1 won, 0 drawn, -1 lost (an illegal move loses).
    """
    init_key, key = jax.random.split(key)
    state = jax.vmap(game.init)(jax.random.split(init_key, num_games))
    first = state.current_player  # (G,) pgx draws which player id moves first
    agent_id = first if agent_first else 1 - first

    def ply(carry, inputs):
        state, outcome = carry
        t, key = inputs
        agents_turn = (t % 2 == 0) == agent_first
        action = jax.lax.cond(agents_turn, agent, opponent, key, state)  # (G,)
        state = jax.vmap(game.step)(state, action)
        outcome = outcome + jnp.take_along_axis(state.rewards, agent_id[:, None], axis=1)[:, 0]
        return (state, outcome), None

    steps = (jnp.arange(MAX_PLIES), jax.random.split(key, MAX_PLIES))
    (state, outcome), _ = jax.lax.scan(ply, (state, jnp.zeros(num_games)), steps)
    return outcome


def search_player(network: AlphaZeroNet, params, game, num_simulations: int) -> Mover:
    """The agent at play: the search's most visited move, no Dirichlet noise."""
    return lambda key, state: search(network, game, params, key, state, num_simulations).action


def network_player(network: AlphaZeroNet, params) -> Mover:
    """The raw network's most probable legal move, no search."""

    def move(key, state):
        del key
        logits, _ = network.apply(params, state.observation)
        return jnp.argmax(masked_logits(logits, state.legal_action_mask), axis=-1)

    return move


OPPONENTS = {"random": random_move, "two_ply": two_ply_move}


def make_evaluation(network: AlphaZeroNet, num_games: int, num_simulations: int):
    """`evaluate(params, key) -> {"<agent>_vs_<opponent>": (2, num_games)}`, one jitted program:
    the agent ("search" at `num_simulations`, and the raw "network") against each of `OPPONENTS`,
    moving first (row 0) and second (row 1); outcomes as in `play_games`."""
    game = envs.pgx_env(ENV_ID)

    @jax.jit
    def evaluate(params, key: jax.Array) -> dict[str, jax.Array]:
        agents = {
            "search": search_player(network, params, game, num_simulations),
            "network": network_player(network, params),
        }
        outcomes = {}
        for a, (agent_name, agent) in enumerate(agents.items()):
            for o, (name, player) in enumerate(OPPONENTS.items()):
                keys = jax.random.split(jax.random.fold_in(key, 2 * a + o))
                opponent = batched(game, player)
                outcomes[f"{agent_name}_vs_{name}"] = jnp.stack(
                    [
                        play_games(game, agent, opponent, k, num_games, first)
                        for k, first in zip(keys, (True, False), strict=True)
                    ]
                )
        return outcomes

    return evaluate


def rates(outcomes) -> dict[str, float]:
    """Win, draw and loss rates of outcomes (+1, 0, -1) of any shape."""
    outcomes = np.asarray(outcomes)
    return {
        "win": float((outcomes == 1).mean()),
        "draw": float((outcomes == 0).mean()),
        "loss": float((outcomes == -1).mean()),
    }
