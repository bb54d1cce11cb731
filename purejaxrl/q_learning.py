"""Tabular Q-learning (or SARSA) with epsilon-greedy exploration; results in runs/<env>/q_learning/.

    python -m purejaxrl.q_learning --env-id Gridworld-Maze-v0 --num-seeds 1000
    python -m purejaxrl.q_learning --env-id Gridworld-Lizard-Slippery-v0 --sarsa
    python -m purejaxrl.q_learning --alpha 0.1 0.5 0.9 --num-seeds 100   # 300 tables, one call

Besides the runner's outputs, a run on a gridworld writes values.png: the learned V = max_a Q and
greedy arrows next to value iteration's, and prints max |Q - Q*|.

Reading map, top to bottom:
  QLearningConfig   static fields and traced ones (`hp.alpha`, `hp.gamma`, epsilon schedule)
  QState            the table, visit counts and env state of one run
  q_learning_target, sarsa_target, td_update   the update of one (s, a) entry
  epsilon_schedule  linear or exponential decay (`exploration.py` holds epsilon-greedy)
  make_learner      env_step: act, step, one TD update; update: steps_per_update env steps
  make_train        the whole run as one pure function of (key, hp)
  values_figure, report_against_value_iteration   the picture and error against Q*
  value_iteration_report   the line the command line prints after a gridworld run
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from purejaxrl import envs
from purejaxrl.checks import require, require_finite_in
from purejaxrl.config import BaseConfig
from purejaxrl.exploration import epsilon_greedy, linear_epsilon
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import (
    Learner,
    Metrics,
    episode_info,
    episode_metrics,
    learner_inputs,
    scan_updates,
)

if TYPE_CHECKING:
    from purejaxrl.runner import RunResult


@dataclass(frozen=True)
class QLearningConfig(BaseConfig):
    """Tabular Q-learning (Watkins 1989) or SARSA (Rummery and Niranjan 1994)."""

    env_id: str = "Gridworld-Maze-v0"
    """A tabular environment (integer observations), e.g. Gridworld-Lizard-v0, Gridworld-4x4-Slippery-v0."""
    total_timesteps: int = 100_000
    """Environment steps per run (one environment per run)."""
    steps_per_update: int = 1000
    """Steps between two rows of metrics (and progress reports): one update."""
    sarsa: bool = False
    """On-policy SARSA target Q(s', a') with a' the next epsilon-greedy action, instead of max_a' Q(s', a')."""
    epsilon_decay: Literal["linear", "exponential"] = "linear"
    """Epsilon from epsilon_start to epsilon_end over exploration_fraction of the run: linearly, or as
    end + (start - end) exp(-5 t / (fraction T))."""
    alpha: float = traced(0.5)
    """Step size, in (0, 1]."""
    alpha_decay: float = traced(0.0)
    """Step size of a pair's n-th update: alpha / n**alpha_decay (0: constant; (0.5, 1]: Robbins-Monro)."""
    gamma: float = traced(0.99)
    """Discount factor, in [0, 1]."""
    epsilon_start: float = traced(1.0)
    """Exploration probability at the start, in [0, 1]."""
    epsilon_end: float = traced(0.1)
    """Exploration probability at the end of the decay, in [0, 1]."""
    exploration_fraction: float = traced(0.5)
    """Fraction of the run over which epsilon decays, in (0, 1]."""

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require(self, "steps_per_update", self.steps_per_update >= 1, "must be >= 1")
        require(
            self,
            "total_timesteps",
            self.num_updates >= 1,
            f"must be >= steps_per_update={self.steps_per_update} (one update)",
        )
        require(
            self,
            "env_id",
            spec.tabular,
            "tabular methods need integer observations (a Gridworld-* id)",
        )
        require_finite_in(self, "alpha", 0.0, 1.0, open_low=True)
        require_finite_in(self, "alpha_decay", 0.0, 1.0)
        require_finite_in(self, "gamma", 0.0, 1.0)
        require_finite_in(self, "epsilon_start", 0.0, 1.0)
        require_finite_in(self, "epsilon_end", 0.0, 1.0)
        require_finite_in(self, "exploration_fraction", 0.0, 1.0, open_low=True)
        return spec


Config = QLearningConfig
QLearningHParams = hparams_type(QLearningConfig)
"""`hp`: QLearningConfig's traced fields as float32 arrays (`hp.<field>`), scalars in one run."""


@struct.dataclass
class QState:
    q: jax.Array  # (S, A) action values
    visits: jax.Array  # (S, A) int32 update counts
    env_state: object
    obs: jax.Array  # (1,) current state index
    action: jax.Array  # () SARSA: the next action, chosen one step ahead; Q-learning: the last
    step: jax.Array  # () int32 steps taken
    key: jax.Array


def q_learning_target(r_t, discount_t, q_t) -> jax.Array:
    """Q-learning target r + discount max_a Q(s', a) (Watkins 1989; Watkins and Dayan 1992).

    Args:
        r_t: () reward. discount_t: () gamma, or 0 when s' is terminal. q_t: (A,) Q(s', .).
    """
    return r_t + discount_t * q_t.max()


def sarsa_target(r_t, discount_t, q_t, a_t) -> jax.Array:
    """SARSA target r + discount Q(s', a') (Rummery and Niranjan 1994); a' the next action taken."""
    return r_t + discount_t * q_t[a_t]


def td_update(q_tm1: jax.Array, target: jax.Array, alpha) -> jax.Array:
    """Q(s, a) <- (1 - alpha) Q(s, a) + alpha target, on a scalar Q(s, a)."""
    return (1.0 - alpha) * q_tm1 + alpha * target


def epsilon_schedule(config: QLearningConfig, hp: QLearningHParams, step: jax.Array) -> jax.Array:
    """Epsilon at env step `step` (see `QLearningConfig.epsilon_decay`)."""
    horizon = hp.exploration_fraction * (config.num_updates * config.steps_per_update)
    start, end = hp.epsilon_start, hp.epsilon_end
    if config.epsilon_decay == "linear":
        return linear_epsilon(start, end, horizon, step)
    return end + (start - end) * jnp.exp(-5.0 * step / horizon)


def make_learner(config: QLearningConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds the tabular `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, 1)
    num_states, num_actions = spec.observation_space.n, spec.num_actions

    def init(key: jax.Array, hp: QLearningHParams) -> QState:
        key, env_key, act_key = jax.random.split(key, 3)
        obs, env_state = env.reset(env_key)
        q = jnp.zeros((num_states, num_actions))
        action = epsilon_greedy(act_key, q[obs[0]], hp.epsilon_start)
        visits = jnp.zeros((num_states, num_actions), jnp.int32)
        return QState(q, visits, env_state, obs, action, jnp.int32(0), key)

    def env_step(state: QState, hp: QLearningHParams):
        key, act_key, env_key, next_key, final_key = jax.random.split(state.key, 5)
        epsilon = epsilon_schedule(config, hp, state.step)
        s = state.obs[0]
        a = state.action if config.sarsa else epsilon_greedy(act_key, state.q[s], epsilon)
        obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, state.env_state, a[None]
        )
        s_next = info["final_observation"][0]  # the true next state, before any auto-reset
        discount = hp.gamma * (1.0 - terminated[0].astype(jnp.float32))
        if config.sarsa:
            a_next = epsilon_greedy(next_key, state.q[obs[0]], epsilon)  # first action from obs
            done = terminated[0] | truncated[0]
            a_boot = jnp.where(done, epsilon_greedy(final_key, state.q[s_next], epsilon), a_next)
            target = sarsa_target(reward[0], discount, state.q[s_next], a_boot)
        else:
            a_next = a  # not used: Q-learning draws its next action at the next step
            target = q_learning_target(reward[0], discount, state.q[s_next])
        visits = state.visits.at[s, a].add(1)
        alpha = hp.alpha * visits[s, a].astype(jnp.float32) ** (-hp.alpha_decay)
        q = state.q.at[s, a].set(td_update(state.q[s, a], target, alpha))
        new = QState(q, visits, env_state, obs, a_next, state.step + 1, key)
        return new, episode_info(info)

    def update(state: QState, hp: QLearningHParams) -> tuple[QState, Metrics]:
        state, info = jax.lax.scan(
            lambda s, _: env_step(s, hp), state, None, config.steps_per_update
        )
        epsilon = epsilon_schedule(config, hp, state.step)
        return state, {**episode_metrics(info), "epsilon": epsilon}

    def export(state: QState) -> dict:
        return {"q": state.q}

    return Learner(init, update, export, config.num_updates, config.steps_per_update)


def make_train(config: QLearningConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: QLearningConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: greedy in the learned table."""

    def act(exported: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        return jnp.argmax(exported["q"][obs], axis=-1)

    return act


def values_figure(env, q: np.ndarray, q_star: np.ndarray, title: str, fig=None):
    """Heatmaps of V = max_a Q with greedy arrows: a learned table next to value iteration's.

    Terminal tiles are left blank with their map character: nothing bootstraps from them.

    Args:
        env: a `Gridworld`. q, q_star: (S, A) tables.
        fig: a matplotlib figure to draw into (e.g. `plt.figure()` in a notebook); a new
            `matplotlib.figure.Figure` if None.

    Returns:
        the figure.
    """
    from matplotlib.figure import Figure

    from purejaxrl.envs.gridworld import ARROWS

    h, w = env.grid.shape
    if fig is None:
        fig = Figure(figsize=(4 * w / max(h, w) * 2 + 1, 4 * h / max(h, w) + 0.8), dpi=120)
    axes = fig.subplots(1, 2)
    terminal = [env.grid.legend[env.grid.layout[r][c]].terminal for r, c in env.grid.cells]
    live = ~np.asarray(terminal)  # terminal tiles' values are never used: shown blank
    values = [q.max(1)[live], q_star.max(1)[live]]
    low, high = min(v.min() for v in values), max(v.max() for v in values)
    for ax, table, label in zip(
        axes, (q, q_star), ("learned Q", "value iteration Q*"), strict=True
    ):
        grid = np.full((h, w), np.nan)
        for s, (r, c) in enumerate(env.grid.cells):
            grid[r, c] = table[s].max() if live[s] else np.nan
        image = ax.imshow(grid, cmap="viridis", vmin=low, vmax=high)
        for s, (r, c) in enumerate(env.grid.cells):
            text = f"{ARROWS[int(table[s].argmax())]}\n{table[s].max():.2f}"
            text = text if live[s] else env.grid.layout[r][c]
            ax.text(c, r, text, ha="center", va="center", color="w" if live[s] else "k")
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes, shrink=0.8, label="V = max_a Q")
    fig.suptitle(title)
    return fig


def plot_values(path, env, q: np.ndarray, q_star: np.ndarray, title: str) -> None:
    """Writes `values_figure(env, q, q_star, title)` to `path` as a PNG, atomically."""
    import io

    from purejaxrl.outputs import atomic_write_bytes

    buffer = io.BytesIO()
    values_figure(env, q, q_star, title).savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def report_against_value_iteration(result: RunResult) -> float:
    """Writes values.png next to the run's outputs and returns max |Q - Q*| of the mean table."""
    from purejaxrl.value_iteration import value_iteration

    env, _ = envs.make(result.config.env_id)
    q_star = value_iteration(env.mdp(), result.grid.points[0].gamma).q
    num_seeds = result.config.num_seeds
    q = np.asarray(result.exported["q"][:num_seeds]).mean(axis=0)  # grid point 0, mean over seeds
    if result.run_dir is not None:
        title = f"{result.config.env_id}, mean table over {num_seeds} seed(s)"
        plot_values(result.run_dir / "values.png", env, q, q_star, title)
    return float(np.abs(q - q_star).max())


def value_iteration_report(result: RunResult) -> str | None:
    """The line printed after a gridworld run's table (writes values.png); None on other envs."""
    if not result.config.env_id.startswith("Gridworld-"):
        return None
    error = report_against_value_iteration(result)
    return f"max |Q - Q*| of the mean table (first grid point): {error:.4f}; see values.png"


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("q_learning")
