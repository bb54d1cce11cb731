"""AlphaZero: MCTS self-play (mctx) on two-player pgx board games; results in runs/<game>/alphazero/.

    python -m purejaxrl.alphazero --env-id tic_tac_toe --num-seeds 4
    python -m purejaxrl.alphazero --lr 1e-3 3e-3 --temperature 0.5 1.0   # 2 x 2 runs, one program
    python benchmarks/alphazero_tictactoe.py   # trains, then checks it against perfect play

Needs the `planning` extra (mctx, pgx): `pip install 'purejaxrl[planning]'`. The env ids are pgx's
game ids (`tic_tac_toe`, `connect_four`), known to the env layer (`envs/boardgames.py`), which
also gives `evaluate` a one-player view of each game against a random player.

Reading map, top to bottom:
  AlphaZeroConfig  static fields (game, games in parallel, simulations, replay, network) and
                   traced ones (`hp.lr`, Dirichlet noise, temperature, L2 coefficient)
  AlphaZeroNet     f_theta(s) = (p, v): policy logits and a tanh value
  search           one batched `mctx.muzero_policy` search, the true game (pgx `step`) as model
  Sample, alphazero_loss  the replay's (observation, search policy pi, outcome z) and the loss
  outcome_targets  z for every position of a self-play rollout, by a backward scan
  Moves            a self-play rollout's moves, (T, N, ...)
  make_learner     init: network, Adam, empty replay, fresh games; update: self-play a rollout of
                   num_steps moves in num_envs games (a `lax.scan` of searches; each game opens
                   with up to opening_moves random moves, not stored; with keep_games the games
                   go on across updates), store the positions of the games that ended, then
                   gradient_steps minibatch steps on the replay
  make_train, make_policy  the whole run; the raw network's greedy move (what `evaluate` plays)
The exact check against perfect play is `purejaxrl/tictactoe.py` (a minimax solver) with
`search_moves` here (through `greedy_search`, compiled once); connect four's check, matches
against a random and a 2-ply player, is `purejaxrl/connectfour.py`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from purejaxrl import envs
from purejaxrl.checks import require, require_finite_in
from purejaxrl.config import BaseConfig
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import Learner, Metrics, learner_inputs, scan_updates
from purejaxrl.networks import MLP, orthogonal
from purejaxrl.replay import BufferState, ReplayBuffer


@dataclass(frozen=True)
class AlphaZeroConfig(BaseConfig):
    """AlphaZero (Silver et al. 2017, 2018): self-play guided by MCTS, on a two-player pgx game."""

    env_id: str = "tic_tac_toe"
    """A two-player pgx game: tic_tac_toe or connect_four."""
    total_timesteps: int = 150_000
    """Self-play moves per run (summed over parallel games)."""
    num_envs: int = 64
    """Self-play games played in parallel."""
    num_steps: int = 9
    """Moves per game in each update's rollout (games restart as they end). With keep_games off,
    every update starts its games afresh, so positions after a rollout's last finished game have
    no outcome and are dropped: then use at least the game's longest length (9 for tic_tac_toe,
    42 for connect_four)."""
    keep_games: bool = True
    """Games go on across updates: a game unfinished at a rollout's end continues in the next,
    and its positions enter the replay at the update in which it ends, so no self-play move is
    thrown away (restarted games, --no-keep-games, throw away about a quarter of the searched
    moves on connect four at --num-steps 42, and on tic-tac-toe leave more seeds losing to
    perfect play: see benchmarks/README.md)."""
    num_simulations: int = 32
    """MCTS simulations per move in self-play."""
    opening_moves: int = 6
    """Each self-play game opens with k uniformly random legal moves, k drawn uniformly from
    0 .. opening_moves at the game's start; only the positions from move k on enter the replay.
    Not in the papers (0 is their setting): it shows the network the positions that self-play
    alone rarely reaches, those after a blunder, from which the exact check also plays; on
    tic-tac-toe it cut the moves that lose to perfect play from 134-311 to 6-9 of 4,520 (see
    benchmarks/README.md)."""
    buffer_size: int = 8192
    """Replay capacity in positions (FIFO); at least num_envs * num_steps, and with keep_games
    num_envs * (num_steps + the game's longest length), the most positions one update stores."""
    batch_size: int = 128
    """Positions per gradient step, drawn uniformly from the replay."""
    gradient_steps: int = 16
    """Gradient steps after each update's rollout."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """Hidden layer widths of the shared torso of f_theta."""
    lr: float = traced(1e-3)
    """Adam learning rate."""
    dirichlet_alpha: float = traced(0.3)
    """Concentration of the Dirichlet noise mixed into the root prior in self-play."""
    dirichlet_fraction: float = traced(0.25)
    """Weight of the Dirichlet noise in the root prior: (1 - f) p + f Dir(alpha)."""
    temperature: float = traced(1.0)
    """Self-play moves are drawn with probability proportional to visits^(1 / temperature);
    0 plays the most visited move. The policy target is the visit distribution itself."""
    l2_coef: float = traced(1e-4)
    """c in the loss: an explicit L2 penalty c ||theta||^2 on every parameter, added to the loss
    (not decoupled weight decay)."""

    plays_board_games: ClassVar[bool] = True
    suite_run_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "pgx": {"eval_episodes": 64},
    }  # the greedy evaluation (against a random player) is cheap: use more games

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require(
            self, "env_id", spec.suite == "pgx",
            f"alphazero plays two-player board games: {', '.join(envs.BOARD_GAMES)}",
        )  # fmt: skip
        require(self, "opening_moves", self.opening_moves >= 0, "must be >= 0 (0: none)")
        check_search_learner(self)
        most = self.num_envs * (self.num_steps + spec.episode_limit)
        require(
            self, "buffer_size", not self.keep_games or self.buffer_size >= most,
            f"must be >= num_envs * (num_steps + {spec.episode_limit}, the longest game) = {most} "
            "(the positions one update can store)",
        )  # fmt: skip
        return spec


def check_search_learner(config) -> None:
    """The checks of the fields AlphaZero's configs share (`AlphaZeroConfig` here,
    `alphazero_mdp.AlphaZeroMDPConfig`): rollout, search, replay, network and loss; raises
    `ConfigError` for the first bad one."""
    for name in ("num_envs", "num_steps", "num_simulations", "batch_size", "gradient_steps"):
        require(config, name, getattr(config, name) >= 1, "must be >= 1")
    require(
        config,
        "total_timesteps",
        config.num_updates >= 1,
        f"must be >= num_envs * num_steps = {config.steps_per_update} (one update)",
    )
    require(
        config,
        "buffer_size",
        config.buffer_size >= config.steps_per_update,
        f"must be >= num_envs * num_steps = {config.steps_per_update} (one rollout)",
    )
    require(config, "hidden_sizes", all(h >= 1 for h in config.hidden_sizes), "widths must be >= 1")
    require_finite_in(config, "lr", 0.0, math.inf, open_low=True)
    require_finite_in(config, "dirichlet_alpha", 0.0, math.inf, open_low=True)
    require_finite_in(config, "dirichlet_fraction", 0.0, 1.0)
    require_finite_in(config, "temperature", 0.0, math.inf)
    require_finite_in(config, "l2_coef", 0.0, math.inf)


Config = AlphaZeroConfig
AlphaZeroHParams = hparams_type(AlphaZeroConfig)
"""`hp`: AlphaZeroConfig's traced fields as float32 arrays, scalars in one run."""


class AlphaZeroNet(nn.Module):
    """f_theta(s) = (p, v): an MLP torso, policy logits over the actions and a value.

    Board games (the defaults): observations (..., rows, cols, planes), a tanh value in [-1, 1],
    the expected outcome for the player to move. Single-agent MDPs (`purejaxrl.alphazero_mdp`):
    vector observations (`obs_ndim=1`) and an unbounded value `value_scale * u`, u the head's
    output, so that a head of unit scale reaches returns of order `value_scale`.
    """

    num_actions: int
    hidden_sizes: tuple[int, ...] = (128, 128)
    obs_ndim: int = 3
    """Trailing observation axes flattened into the torso's input."""
    bounded_value: bool = True
    """tanh value in [-1, 1] (game outcomes); else linear, times value_scale."""
    value_scale: float = 1.0
    """Scale of the values (and of the value loss's errors, see `alphazero_loss`)."""

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        flat = obs.reshape((*obs.shape[: obs.ndim - self.obs_ndim], -1)).astype(jnp.float32)
        x = MLP(self.hidden_sizes, "relu")(flat)
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01))(x)
        value = nn.Dense(1, kernel_init=orthogonal(1.0))(x)[..., 0]
        value = jnp.tanh(value) if self.bounded_value else self.value_scale * value
        return logits, value  # (..., A), (...)


def masked_logits(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """Illegal moves get the lowest finite logit: probability 0, and no NaN in softmaxes."""
    return jnp.where(legal, logits, jnp.finfo(logits.dtype).min)


def search(
    network: AlphaZeroNet,
    game,
    params,
    key: jax.Array,
    state,
    num_simulations: int,
    *,
    dirichlet_alpha=0.3,
    dirichlet_fraction=0.0,
    temperature=0.0,
):
    """One batched AlphaZero search (PUCT, `mctx.muzero_policy`) from every state of a batch.

    The model is the true game: a node's embedding is the pgx `State`, and expanding action a
    steps it with pgx's `step`. Values follow mctx's convention, each from the point of view of
    the player to move at its node:
      - the reward of an edge s --a--> s' is pgx's reward of the player who moved (who was to
        move at s): +1 if a won, -1 if it lost (a draw, or a non-final move: 0);
      - the discount is -1 while the game goes on: in two-player zero-sum games the value of s'
        for the player to move at s' is minus its value for the player at s, and mctx backs up
        Q(s, a) = r + discount * V(s');
      - at a terminal s' the discount is 0 and V(s') = 0, so Q(s, a) is exactly the outcome r
        for the mover (the value of a terminal state is its outcome, counted on the edge into it).
    Illegal moves are masked at the root (`invalid_actions`) and in every node's prior.

    Args:
        state: a pgx `State` with leading axis B, none terminated.
        num_simulations: static.
        dirichlet_alpha, dirichlet_fraction: root noise (0 fraction: none).
        temperature: the returned `action` is drawn with probability ~ visits^(1 / temperature);
            0 takes the most visited move.

    Returns:
        mctx `PolicyOutput`: `action` (B,), `action_weights` (B, A) the visit distribution (zero
        on illegal moves), `search_tree`.
    """
    import mctx

    def apply(state):
        logits, value = network.apply(params, state.observation)
        return masked_logits(logits, state.legal_action_mask), value

    def recurrent_fn(params_, key_, action, state):
        del params_, key_
        mover = state.current_player  # (B,)
        state = jax.vmap(game.step)(state, action)
        logits, value = apply(state)
        reward = jnp.take_along_axis(state.rewards, mover[:, None], axis=1)[:, 0]
        output = mctx.RecurrentFnOutput(
            reward=reward,
            discount=jnp.where(state.terminated, 0.0, -1.0),
            prior_logits=logits,
            value=jnp.where(state.terminated, 0.0, value),
        )
        return output, state

    logits, value = apply(state)
    root = mctx.RootFnOutput(prior_logits=logits, value=value, embedding=state)
    return mctx.muzero_policy(
        params,
        key,
        root,
        recurrent_fn,
        num_simulations,
        invalid_actions=~state.legal_action_mask,
        dirichlet_alpha=dirichlet_alpha,
        dirichlet_fraction=dirichlet_fraction,
        temperature=temperature,
    )


class Sample(struct.PyTreeNode):
    """One replay entry; a batch adds a leading axis B."""

    obs: jax.Array  # (*obs_shape) the position, from the player to move's point of view
    policy: jax.Array  # (A,) pi, the search's visit distribution at that position
    outcome: jax.Array  # () z, the game's final result for the player to move: +1, 0 or -1


def alphazero_loss(
    network: AlphaZeroNet, params, batch: Sample, l2_coef
) -> tuple[jax.Array, Metrics]:
    """The AlphaZero loss on a batch (Silver et al. 2017, eq. 1; 2018):

        L = mean_B[(z - v)^2 - pi^T log p] + c ||theta||^2,   (p, v) = f_theta(s)

    c ||theta||^2 is an explicit L2 term over every parameter (biases included), not decoupled
    weight decay. log p is the log-softmax of the logits (illegal moves have pi = 0 and add 0).
    With a network's `value_scale` s other than 1 (unbounded returns of single-agent MDPs) the
    value error is measured in units of s, ((z - v) / s)^2, so that it weighs as much as the
    policy term whatever the scale of the returns.
    """
    logits, value = network.apply(params, batch.obs)  # (B, A), (B,)
    value_loss = jnp.mean(jnp.square((batch.outcome - value) / network.value_scale))
    policy_loss = -jnp.mean(jnp.sum(batch.policy * jax.nn.log_softmax(logits), axis=-1))
    l2 = sum(jnp.sum(jnp.square(w)) for w in jax.tree.leaves(params))
    total = value_loss + policy_loss + l2_coef * l2
    return total, {
        "loss": total,
        "value_loss": value_loss,
        "policy_loss": policy_loss,
        "l2": l2,
    }


def outcome_targets(reward: jax.Array, terminated: jax.Array) -> tuple[jax.Array, jax.Array]:
    """z for every position of a rollout, and whether its game finished within the rollout.

    Position t's mover got `reward[t]` from its own move; if that move ended the game, z_t is
    that reward, else the game went on with the other player to move, so z_t = -z_{t+1}.

    Args:
        reward, terminated: (T, N), the mover's reward of step t and whether step t ended a game.

    Returns:
        z (T, N) and valid (T, N) bool (false after the last finished game of a column).
    """

    def back(z_next, step):
        r, done = step
        z = jnp.where(done, r, -z_next)
        return z, z

    _, z = jax.lax.scan(back, jnp.zeros_like(reward[0]), (reward, terminated), reverse=True)
    return z, game_ends(terminated)


def game_ends(terminated: jax.Array) -> jax.Array:
    """(T, N) bool: whether the game of position t ends within the rollout (a game ends at t or
    later in its column)."""
    return jnp.cumsum(terminated[::-1], axis=0)[::-1] > 0


def learn_from_replay(
    loss_fn: Callable[[Any, Any], tuple[jax.Array, Metrics]],
    tx: optax.GradientTransformation,
    buffer: ReplayBuffer,
    replay: BufferState,
    params,
    opt_state,
    key: jax.Array,
    batch_size: int,
    gradient_steps: int,
) -> tuple[Any, Any, Metrics]:
    """`gradient_steps` steps of `loss_fn(params, batch) -> (loss, metrics)` (e.g.
    `alphazero_loss` with its network and L2 coefficient bound; `muzero_loss`) on minibatches of
    `batch_size` entries drawn uniformly from `replay`; on an empty replay (nothing to learn
    from) the parameters and optimiser state come back unchanged. Returns (params, opt_state,
    the losses' means)."""
    grad_fn = jax.grad(loss_fn, has_aux=True)

    def gradient_step(carry, key):
        params, opt_state = carry
        batch = buffer.sample(replay, key, batch_size)
        grads, metrics = grad_fn(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), metrics

    (new_params, new_opt_state), metrics = jax.lax.scan(
        gradient_step, (params, opt_state), jax.random.split(key, gradient_steps)
    )
    learned = replay.size > 0
    new_params, new_opt_state = jax.tree.map(
        lambda new, old: jnp.where(learned, new, old),
        (new_params, new_opt_state),
        (params, opt_state),
    )
    return new_params, new_opt_state, jax.tree.map(jnp.mean, metrics)


class Moves(struct.PyTreeNode):
    """Self-play moves; in a rollout each field has leading axes (T, N): move, game column."""

    obs: jax.Array  # (*obs_shape) the position before the move, from the mover's point of view
    policy: jax.Array  # (A,) pi, the search's visit distribution there
    reward: jax.Array  # () the mover's reward for its move: +1, 0 or -1 if it ended the game
    done: jax.Array  # () bool, the move ended the game
    searched: jax.Array  # () bool, the move was searched (it came after the game's random opening)
    move_number: jax.Array  # () int32, moves made in the game before this one


@struct.dataclass
class AlphaZeroState:
    params: Any
    opt_state: Any
    replay: BufferState  # of `Sample`s, capacity buffer_size
    key: jax.Array
    # with keep_games (else None): the games in play and the positions waiting for their outcome
    games: Any = None  # pgx State of the num_envs games in play, (N, ...)
    opening: jax.Array | None = None  # (N,) int32, the random opening length of each game
    recent: Moves | None = None  # (H, N, ...) the last H moves of each column, H the game's
    #                              longest length: every position of a game in play is there


def make_network(config, spec: envs.EnvSpec) -> AlphaZeroNet:
    return AlphaZeroNet(spec.num_actions, tuple(config.hidden_sizes))


def make_learner(config: AlphaZeroConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds AlphaZero's `Learner` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    game = envs.pgx_env(config.env_id)
    network = make_network(config, spec)
    buffer = ReplayBuffer(config.buffer_size)
    num_envs, num_steps = config.num_envs, config.num_steps
    longest = spec.episode_limit  # H, the most moves a game can last (9, 42)

    def optimizer(hp: AlphaZeroHParams) -> optax.GradientTransformation:
        return optax.adam(hp.lr)

    def init(key: jax.Array, hp: AlphaZeroHParams) -> AlphaZeroState:
        key, net_key = jax.random.split(key)
        board = game.init(jax.random.key(0))  # an example position
        params = network.init(net_key, board.observation[None])
        example = Sample(
            board.observation, jnp.zeros(game.num_actions, jnp.float32), jnp.float32(0.0)
        )
        replay = buffer.init(example)
        state = AlphaZeroState(params, optimizer(hp).init(params), replay, key)
        if not config.keep_games:  # each update starts its own games
            return state
        games, opening = new_games(jax.random.fold_in(net_key, 1))
        # no moves yet: `searched` false, so none of these ever enters the replay
        recent = Moves(
            obs=jnp.zeros((longest, num_envs, *board.observation.shape), board.observation.dtype),
            policy=jnp.zeros((longest, num_envs, game.num_actions), jnp.float32),
            reward=jnp.zeros((longest, num_envs), jnp.float32),
            done=jnp.zeros((longest, num_envs), bool),
            searched=jnp.zeros((longest, num_envs), bool),
            move_number=jnp.zeros((longest, num_envs), jnp.int32),
        )
        return state.replace(games=games, opening=opening, recent=recent)

    def new_games(key):
        """num_envs fresh games and the random opening length of each, (N,)."""
        init_key, opening_key = jax.random.split(key)
        state = jax.vmap(game.init)(jax.random.split(init_key, num_envs))
        opening = jax.random.randint(opening_key, (num_envs,), 0, config.opening_moves + 1)
        return state, opening

    def self_play(params, key, hp: AlphaZeroHParams, games, opening):
        """num_steps moves in the num_envs games (fresh ones unless keep_games), a new one
        starting as one ends; returns the games and openings in play after them, and the moves,
        `Moves` (T, N, ...)."""
        key, init_key = jax.random.split(key)
        if not config.keep_games:
            games, opening = new_games(init_key)

        def move(carry, key):
            state, opening = carry
            search_key, random_key, reset_key = jax.random.split(key, 3)
            out = search(
                network, game, params, search_key, state, config.num_simulations,
                dirichlet_alpha=hp.dirichlet_alpha, dirichlet_fraction=hp.dirichlet_fraction,
                temperature=hp.temperature,
            )  # fmt: skip
            searched = state._step_count >= opening  # (N,) moves made so far in each game
            uniform = jax.random.categorical(
                random_key, jnp.where(state.legal_action_mask, 0.0, -jnp.inf)
            )
            action = jnp.where(searched, out.action, uniform)
            mover = state.current_player  # (N,)
            next_state = jax.vmap(game.step)(state, action)
            reward = jnp.take_along_axis(next_state.rewards, mover[:, None], axis=1)[:, 0]
            done = next_state.terminated
            fresh, fresh_opening = new_games(reset_key)

            def restart(f, s):
                return jnp.where(done.reshape(done.shape + (1,) * (s.ndim - 1)), f, s)

            next_carry = jax.tree.map(restart, (fresh, fresh_opening), (next_state, opening))
            moves = Moves(
                state.observation, out.action_weights, reward, done, searched, state._step_count
            )
            return next_carry, moves

        keys = jax.random.split(key, num_steps)
        (games, opening), moves = jax.lax.scan(move, (games, opening), keys)
        return games, opening, moves

    def update(state: AlphaZeroState, hp: AlphaZeroHParams) -> tuple[AlphaZeroState, Metrics]:
        key, play_key, sample_key = jax.random.split(state.key, 3)
        games, opening, moves = self_play(state.params, play_key, hp, state.games, state.opening)
        if config.keep_games:
            # the last H moves before this rollout, then its T: every position of a game that
            # ended in this rollout lies in this window, as no game is longer than H moves
            window = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), state.recent, moves)
            stored = game_ends(state.recent.done)  # (H, N) ended before: stored then
            unstored = jnp.concatenate([~stored, jnp.ones_like(moves.done)])  # (H + T, N)
            recent = jax.tree.map(lambda x: x[-longest:], window)
        else:  # every game began in this rollout
            window, unstored, recent = moves, True, None
        z, ended = outcome_targets(window.reward, window.done)  # (H + T, N); H = 0 when restarted
        new = ended & unstored & window.searched
        flat = jax.tree.map(
            lambda x: x.reshape((-1, *x.shape[2:])), Sample(window.obs, window.policy, z)
        )
        replay = buffer.add(state.replay, flat, new.reshape(-1))
        # until the first games end the replay is empty, and `learn_from_replay` keeps the old
        # parameters
        params, opt_state, metrics = learn_from_replay(
            lambda params, batch: alphazero_loss(network, params, batch, hp.l2_coef),
            optimizer(hp), buffer, replay, state.params, state.opt_state, sample_key,
            config.batch_size, config.gradient_steps,
        )  # fmt: skip
        # the "episodes" of self-play are its games that ended in this rollout; their return is
        # the first mover's outcome (0 when play is perfect: tic-tac-toe is a draw): the last
        # mover's reward, negated when the second player made the last move
        games_ended = moves.done.sum()
        first_mover = jnp.where(moves.move_number % 2 == 0, moves.reward, -moves.reward)

        def per_game(x):
            return jnp.where(games_ended > 0, (x * moves.done).sum() / games_ended, jnp.nan)

        metrics = {
            "episode_return": per_game(first_mover),
            "episodes": games_ended.astype(jnp.int32),
            "draws": per_game(moves.reward == 0),
            "game_length": per_game(moves.move_number + 1),
            **metrics,
        }
        state = AlphaZeroState(params, opt_state, replay, key)
        if config.keep_games:
            state = state.replace(games=games, opening=opening, recent=recent)
        return state, metrics

    def export(state: AlphaZeroState) -> dict:
        return {"params": state.params}

    return Learner(init, update, export, config.num_updates, config.steps_per_update)


def make_train(config: AlphaZeroConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: AlphaZeroConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: the raw network's most probable legal move, no search
    (what `evaluate` plays against the random player; obs (E, D) flattened, as the env gives)."""
    config, spec = learner_inputs(config, spec)
    network = make_network(config, spec)
    game = envs.pgx_env(config.env_id)
    obs_shape = tuple(game.observation_shape)

    def act(exported, obs, key):
        del key
        board = obs.reshape((obs.shape[0], *obs_shape))
        logits, _ = network.apply(exported["params"], board)
        legal = legal_moves(config.env_id, board)
        return jnp.argmax(masked_logits(logits, legal), axis=-1)

    return act


def legal_moves(env_id: str, obs: jax.Array) -> jax.Array:
    """(E, A) bool: the legal moves of pgx observations (E, *obs_shape) of our games: an empty
    cell (tic_tac_toe), a column whose top cell is empty (connect_four)."""
    occupied = obs[..., :2].sum(-1) > 0  # (E, rows, cols)
    if env_id == "tic_tac_toe":
        return ~occupied.reshape((obs.shape[0], -1))
    return ~occupied[:, 0, :]


def search_moves(
    network: AlphaZeroNet, params, key, boards: np.ndarray, num_simulations: int
) -> np.ndarray:
    """The move the search plays (greedy: most visited, no noise) in each tic-tac-toe position,
    with the trained network `params` (e.g. an `export`'s "params").

    Args:
        boards: (P, 9) int, 0 empty, 1 the first player's (X) mark, 2 the second's (O); X is to
            move when the counts are equal.

    Returns:
        (P,) int moves.
    """
    state = tictactoe_states(envs.pgx_env("tic_tac_toe"), boards)
    return np.asarray(greedy_search(network, params, key, state, "tic_tac_toe", num_simulations))


@functools.partial(jax.jit, static_argnames=("network", "env_id", "num_simulations"))
def greedy_search(
    network: AlphaZeroNet, params, key: jax.Array, state, env_id: str, num_simulations: int
) -> jax.Array:
    """The search's greedy moves (most visited, no noise), (B,), from a batch of pgx states of
    `env_id`, compiled once per (network, game, simulations, shapes): flax modules compare by
    their fields and the game is named by its id, so repeated calls (every evaluation of a
    benchmark) reuse the compiled program instead of tracing a new one."""
    return search(network, envs.pgx_env(env_id), params, key, state, num_simulations).action


def tictactoe_states(game, boards: np.ndarray):
    """pgx tic-tac-toe states (leading axis P) of boards (P, 9) coded as in `search_moves`."""
    boards = np.asarray(boards)
    count = (boards > 0).sum(axis=1)
    color = (count % 2).astype(np.int32)  # pgx: 0 = X, 1 = O, the colour to move
    pgx_board = np.where(boards == 0, -1, boards - 1).astype(np.int32)
    base = jax.vmap(game.init)(jax.random.split(jax.random.key(0), len(boards)))
    x = base._x._replace(
        color=jnp.asarray(color), board=jnp.asarray(pgx_board), winner=-jnp.ones(len(boards), int)
    )
    # pgx's current_player is the player id of the colour to move; with player 0 playing X
    state = base.replace(
        current_player=jnp.asarray(color),
        _x=x,
        legal_action_mask=jnp.asarray(boards == 0),
        _step_count=jnp.asarray(count, jnp.int32),
    )
    return state.replace(observation=jax.vmap(game.observe)(state))  # the mover's view


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("alphazero")
