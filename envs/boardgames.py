"""Two-player board games from pgx, and a one-player view of them: play against a random opponent.

AlphaZero (`purejaxrl.alphazero`) trains on the pgx game itself (`pgx_env`), both sides at once by
self-play. Everything else in the house (greedy evaluation, `evaluate`, the runner's summary)
steps gymnax environments, so each game id is also a gymnax `Environment`, `VersusRandom`: the
agent plays one side, chosen at random at every reset, and a uniformly random legal player the
other; the reward is the final outcome for the agent (+1 win, 0 draw, -1 loss), and an illegal
move loses at once (pgx's rule). Observations are pgx's (from the agent's point of view),
flattened to float32.

pgx is an optional dependency (the `planning` extra): it is imported on first use.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

BOARD_GAMES = ("tic_tac_toe", "connect_four")
"""The pgx game ids we support, as env ids."""

INSTALL_HINT = "it needs pgx: pip install 'purejaxrl[planning]'"


class BoardGameExtraMissingError(ImportError):
    """A board-game id while pgx is not installed."""


def pgx_env(env_id: str):
    """The pgx environment of a board-game id (imports pgx)."""
    try:
        import pgx
    except ImportError:
        raise BoardGameExtraMissingError(f"env id {env_id!r}: {INSTALL_HINT}") from None
    return pgx.make(env_id)


@struct.dataclass
class VersusRandomState(environment.EnvState):
    game: Any  # the pgx State; the agent is to move whenever the episode is not over
    agent: jax.Array  # () int32, the agent's player id in pgx (0 or 1)


@struct.dataclass
class VersusRandomParams(environment.EnvParams):
    max_steps_in_episode: int = 1000
    """The env uses the board's cell count (`VersusRandom.default_params`): more than the agent's
    moves in any game, so no game is truncated, and `evaluate`'s episodes scan that many steps."""


class VersusRandom(environment.Environment[VersusRandomState, VersusRandomParams]):
    """A pgx game against a uniformly random legal opponent, as a one-player gymnax env."""

    def __init__(self, env_id: str):
        super().__init__()
        self.env_id = env_id
        self.game = pgx_env(env_id)

    @property
    def default_params(self) -> VersusRandomParams:
        cells = math.prod(self.game.observation_shape[:-1])  # 9 (tic_tac_toe), 42 (connect_four)
        return VersusRandomParams(max_steps_in_episode=cells)

    @property
    def name(self) -> str:
        return self.env_id

    @property
    def num_actions(self) -> int:
        return int(self.game.num_actions)

    def _opponent_moves(self, key, game, agent):
        """The random opponent's move if it is its turn and the game is on; else `game` unchanged."""
        logits = jnp.where(game.legal_action_mask, 0.0, -jnp.inf)
        action = jax.random.categorical(key, logits)
        moves = (game.current_player != agent) & ~game.terminated
        return jax.lax.cond(moves, lambda: self.game.step(game, action), lambda: game)

    def reset_env(self, key, params):
        init_key, side_key, move_key = jax.random.split(key, 3)
        game = self.game.init(init_key)
        agent = jax.random.bernoulli(side_key).astype(jnp.int32)
        game = self._opponent_moves(move_key, game, agent)  # the opponent opens if it is first
        state = VersusRandomState(time=0, game=game, agent=agent)
        return self.get_obs(state), state

    def step_env(self, key, state: VersusRandomState, action, params):
        game = self.game.step(state.game, jnp.asarray(action, jnp.int32))
        game = self._opponent_moves(key, game, state.agent)
        # pgx's rewards are those of the last step; the opponent does not move after a step that
        # ended the game, so this is the outcome of whichever move ended it (0 while it goes on)
        reward = game.rewards[state.agent]
        state = VersusRandomState(time=state.time + 1, game=game, agent=state.agent)
        terminated = game.terminated
        return self.get_obs(state), state, reward, terminated, {}

    def get_obs(self, state: VersusRandomState, params=None, key=None) -> jax.Array:
        # pgx observes from the player to move: the agent, except once the game is over
        return state.game.observation.astype(jnp.float32).reshape(-1)

    def is_terminal(self, state: VersusRandomState, params) -> jax.Array:
        return state.game.terminated

    def action_space(self, params=None):
        return spaces.Discrete(self.num_actions)

    def observation_space(self, params=None):
        size = math.prod(self.game.observation_shape)
        return spaces.Box(0.0, 1.0, (size,), jnp.float32)
