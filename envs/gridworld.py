"""A tabular gridworld in jnp, with its exact MDP, and the lecture maps.

A map is text: the layout rows, a line `---`, then one legend line per tile character,
`<char>: <reward> [terminal]`, where the reward is received on entering that tile. `#` is a wall,
`S` marks the start (an ordinary tile otherwise; it needs a legend line too), and the reward of `.`
is also what a move into a wall or off the grid earns (the agent stays put). With no `S`, episodes
start uniformly on the non-terminal tiles.

Actions: 0 left, 1 right, 2 up, 3 down. With slip probability p the intended move happens with
probability 1 - p, otherwise one of the three other moves, uniformly. Entering a terminal tile ends
the episode (terminated); `max_steps_in_episode` truncates.

`Gridworld.mdp()` gives the same dynamics as arrays (`P[s, a, s']`, `R[s, a]`, terminal mask, start
distribution) over the states = non-wall tiles in row-major order, so value iteration can solve it.
Terminal states are absorbing with zero reward there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

MOVES = ((0, -1), (0, 1), (-1, 0), (1, 0))  # (row, col) deltas of left, right, up, down
ACTION_NAMES = ("left", "right", "up", "down")
ARROWS = ("\u2190", "\u2192", "\u2191", "\u2193")

MAPS = {
    # Lecture 001: the lizard. One cricket +1, empty -1, bird -10 (ends), five crickets +10 (ends).
    "Lizard": """
c..
.B.
S.C
---
.: -1
S: -1
c: 1
B: -10 terminal
C: 10 terminal
""",
    # Lectures 003/004: -1 per move, terminal corners, start anywhere else.
    "4x4": """
T...
....
....
...T
---
.: -1
T: -1 terminal
""",
    # Lecture 004: the agent on the left of a 1-D world, the treasure on the right.
    "Corridor": """
S....T
---
.: 0
S: 0
T: 1 terminal
""",
    # Lecture 004: the maze; hells -1 and end, paradise +1 and ends, ground 0.
    "Maze": """
S...
..H.
.HP.
....
---
.: 0
S: 0
H: -1 terminal
P: 1 terminal
""",
}
SLIPPERY = 0.1
"""Slip probability of the registered `Gridworld-<map>-Slippery-v0` ids."""


class MapError(ValueError):
    """A map text that cannot be parsed or makes no sense."""


class Tile(NamedTuple):
    reward: float
    terminal: bool


@dataclass(frozen=True)
class GridMap:
    """A parsed map: layout rows and the tile legend."""

    layout: tuple[str, ...]
    legend: dict[str, Tile]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.layout), len(self.layout[0])

    @property
    def cells(self) -> list[tuple[int, int]]:
        """The (row, col) of every state, row-major: every tile that is not a wall."""
        return [
            (r, c) for r, row in enumerate(self.layout) for c, ch in enumerate(row) if ch != "#"
        ]


def parse_map(text: str) -> GridMap:
    """Parses and checks a map text (see the module docstring); raises `MapError`."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    if "---" not in lines:
        raise MapError("map text needs a '---' line between the layout and the legend")
    split = lines.index("---")
    layout = tuple(line.strip() for line in lines[:split] if line.strip())
    if not layout:
        raise MapError("map has no layout rows")
    widths = {len(row) for row in layout}
    if len(widths) != 1:
        raise MapError(f"ragged rows: widths {sorted(widths)}; every row needs the same length")
    legend: dict[str, Tile] = {}
    for line in lines[split + 1 :]:
        if not line.strip():
            continue
        char, _, spec = line.partition(":")
        parts = spec.split()
        if len(char.strip()) != 1 or not parts or parts[1:] not in ([], ["terminal"]):
            raise MapError(f"bad legend line {line!r}; expected '<char>: <reward> [terminal]'")
        try:
            reward = float(parts[0])
        except ValueError:
            raise MapError(f"bad reward in legend line {line!r}") from None
        legend[char.strip()] = Tile(reward, len(parts) == 2)
    for ch in "".join(layout):
        if ch != "#" and ch not in legend:
            raise MapError(f"unknown tile character {ch!r}; the legend defines {sorted(legend)}")
    if "." not in legend:
        raise MapError("the legend needs '.' (its reward is also the reward for bumping)")
    grid = GridMap(layout, legend)
    starts = [cell for cell in grid.cells if layout[cell[0]][cell[1]] == "S"]
    non_terminal = [cell for cell in grid.cells if not legend[layout[cell[0]][cell[1]]].terminal]
    if len(starts) > 1:
        raise MapError(f"{len(starts)} start tiles 'S'; at most one")
    if not non_terminal:
        raise MapError("no start: every tile is a wall or terminal")
    terminals = {cell for cell in grid.cells if legend[layout[cell[0]][cell[1]]].terminal}
    if not terminals:
        raise MapError("no terminal tile: episodes could only end by truncation")
    reachable = _reachable(grid, starts or non_terminal)
    if not terminals & reachable:
        raise MapError("no terminal tile can be reached from the start")
    return grid


def _reachable(grid: GridMap, sources) -> set[tuple[int, int]]:
    cells, seen, frontier = set(grid.cells), set(sources), list(sources)
    while frontier:
        r, c = frontier.pop()
        if grid.legend[grid.layout[r][c]].terminal:
            continue
        for dr, dc in MOVES:
            nxt = (r + dr, c + dc)
            if nxt in cells and nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


class MDP(NamedTuple):
    """A finite MDP as arrays; S states, A actions."""

    P: np.ndarray  # (S, A, S) transition probabilities
    R: np.ndarray  # (S, A) expected reward
    terminal: np.ndarray  # (S,) bool, absorbing with zero reward
    start: np.ndarray  # (S,) start distribution


def deterministic_tables(grid: GridMap) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(next_state (S, A), reward (S, A), terminal (S,), start (S,)) for moves that do not slip."""
    cells = grid.cells
    index = {cell: i for i, cell in enumerate(cells)}
    bump = grid.legend["."].reward
    S, A = len(cells), len(MOVES)
    next_state, reward = np.zeros((S, A), np.int32), np.zeros((S, A), np.float32)
    for s, (r, c) in enumerate(cells):
        for a, (dr, dc) in enumerate(MOVES):
            target = (r + dr, c + dc)
            if target in index:
                next_state[s, a] = index[target]
                reward[s, a] = grid.legend[grid.layout[target[0]][target[1]]].reward
            else:
                next_state[s, a], reward[s, a] = s, bump
    terminal = np.array([grid.legend[grid.layout[r][c]].terminal for r, c in cells])
    starts = np.array([grid.layout[r][c] == "S" for r, c in cells])
    start = (starts if starts.any() else ~terminal).astype(np.float32)
    return next_state, reward, terminal, start / start.sum()


def slip_matrix(slip: float) -> np.ndarray:
    """(A, A): probability of executing move b when move a was chosen."""
    A = len(MOVES)
    m = np.full((A, A), slip / (A - 1))
    np.fill_diagonal(m, 1.0 - slip)
    return m


@struct.dataclass
class GridState(environment.EnvState):
    pos: jax.Array  # () int32 state index


@struct.dataclass
class GridParams(environment.EnvParams):
    max_steps_in_episode: int = 100


ObsMode = Literal["index", "onehot", "rowcol"]


class Gridworld(environment.Environment[GridState, GridParams]):
    """The gridworld of one map, as a gymnax environment.

    Args:
        map_name_or_text: a name in `MAPS` or a map text.
        slip: probability that a move is replaced by one of the other three, in [0, 1).
        obs: "index" (the state index, int32), "onehot" (float32, (S,)) or "rowcol" (float32, (2,)).
    """

    def __init__(self, map_name_or_text: str = "Maze", slip: float = 0.0, obs: ObsMode = "index"):
        super().__init__()
        if map_name_or_text in MAPS:
            self.map_name, text = map_name_or_text, MAPS[map_name_or_text]
        elif "---" in map_name_or_text:
            self.map_name, text = "custom", map_name_or_text
        else:
            raise MapError(f"unknown map {map_name_or_text!r}; shipped maps: {', '.join(MAPS)}")
        if not (math.isfinite(slip) and 0.0 <= slip < 1.0):
            raise MapError(f"slip={slip!r}: must be in [0, 1)")
        if obs not in ("index", "onehot", "rowcol"):
            raise MapError(f"obs={obs!r}: one of index, onehot, rowcol")
        self.grid, self.slip, self.obs_mode = parse_map(text), float(slip), obs
        next_state, reward, terminal, start = deterministic_tables(self.grid)
        self._tables = (next_state, reward, terminal, start)
        self._next = jnp.asarray(next_state)
        self._reward = jnp.asarray(reward)
        self._terminal = jnp.asarray(terminal)
        self._starts = jnp.asarray(np.flatnonzero(start), jnp.int32)  # equally likely
        self._rowcol = jnp.asarray(np.array(self.grid.cells, np.float32))

    @property
    def name(self) -> str:
        return f"Gridworld-{self.map_name}"

    @property
    def num_states(self) -> int:
        return len(self.grid.cells)

    @property
    def num_actions(self) -> int:
        return len(MOVES)

    @property
    def default_params(self) -> GridParams:
        return GridParams()

    def mdp(self) -> MDP:
        """The exact MDP of this map and slip probability."""
        next_state, reward, terminal, start = self._tables
        S, A = reward.shape
        executed = slip_matrix(self.slip)  # (A chosen, A executed)
        P = np.zeros((S, A, S))
        for s in range(S):
            for a in range(A):
                for b in range(A):
                    P[s, a, next_state[s, b]] += executed[a, b]
        R = reward @ executed.T  # R[s, a] = sum_b p(b | a) r(s, b)
        P[terminal] = 0.0
        for t in np.flatnonzero(terminal):
            P[t, :, t] = 1.0
        R[terminal] = 0.0
        return MDP(P, R.astype(np.float64), terminal, start.astype(np.float64))

    def reset_env(self, key, params):
        # gymnax draws a reset at every step (for the auto-reset): at most one uniform
        n = self._starts.shape[0]
        pos = self._starts[0]
        if n > 1:
            pos = self._starts[jnp.minimum(jax.random.uniform(key) * n, n - 1).astype(jnp.int32)]
        state = GridState(time=0, pos=pos)
        return self.observe(key, state, None, params), state

    def step_env(self, key, state: GridState, action, params):
        action = jnp.asarray(action, jnp.int32)
        executed = action
        if self.slip > 0:
            # one draw of two uniforms: whether the move slips, and to which of the other three
            slips, which = jax.random.uniform(key, (2,))
            offset = jnp.minimum(which * (len(MOVES) - 1), len(MOVES) - 2).astype(jnp.int32)
            other = (action + 1 + offset) % len(MOVES)
            executed = jnp.where(slips < self.slip, other, action)
        pos = self._next[state.pos, executed]
        reward = self._reward[state.pos, executed]
        new_state = GridState(time=state.time + 1, pos=pos)
        obs = self.observe(key, new_state, action, params)
        return obs, new_state, reward, self._terminal[pos], {"executed_action": executed}

    def observe(self, key, state: GridState, action, params):
        if self.obs_mode == "onehot":
            return jax.nn.one_hot(state.pos, self.num_states)
        if self.obs_mode == "rowcol":
            return self._rowcol[state.pos]
        return state.pos

    def is_terminated(self, state: GridState, params) -> jax.Array:
        return self._terminal[state.pos]

    def action_space(self, params=None):
        return spaces.Discrete(len(MOVES))

    def observation_space(self, params=None):
        if self.obs_mode == "onehot":
            return spaces.Box(0.0, 1.0, (self.num_states,), jnp.float32)
        if self.obs_mode == "rowcol":
            return spaces.Box(0.0, float(max(self.grid.shape)), (2,), jnp.float32)
        return spaces.Discrete(self.num_states)

    def render_text(self, pos: int | None = None) -> str:
        """The layout with the agent drawn as 'A' at state `pos`."""
        rows = [list(row) for row in self.grid.layout]
        if pos is not None:
            r, c = self.grid.cells[int(pos)]
            rows[r][c] = "A"
        return "\n".join("".join(row) for row in rows)

    def render_rgb(self, pos: int | None = None, tile: int = 24) -> np.ndarray:
        """An RGB picture (H * tile, W * tile, 3) uint8: walls black, rewards green or red, agent blue."""
        h, w = self.grid.shape
        image = np.full((h, w, 3), 235, np.uint8)
        for r, c in self.grid.cells:
            t = self.grid.legend[self.grid.layout[r][c]]
            if t.terminal or t.reward > 0:
                image[r, c] = (80, 190, 90) if t.reward > 0 else (220, 80, 70)
        for r, row in enumerate(self.grid.layout):
            for c, ch in enumerate(row):
                if ch == "#":
                    image[r, c] = (30, 30, 30)
        if pos is not None:
            r, c = self.grid.cells[int(pos)]
            image[r, c] = (60, 90, 230)
        return np.kron(image, np.ones((tile, tile, 1), np.uint8))


def gridworld_ids() -> dict[str, tuple[str, float]]:
    """Registered ids -> (map name, slip)."""
    ids = {}
    for name in MAPS:
        ids[f"Gridworld-{name}-v0"] = (name, 0.0)
        ids[f"Gridworld-{name}-Slippery-v0"] = (name, SLIPPERY)
    return ids
