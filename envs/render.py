"""Pictures of observations, for videos of a policy (`purejaxrl evaluate RUN --video PATH`).

Every picture is drawn from one env's observation as the training stack gives it, so a video
needs no access to the env's internal state:

    classic control   CartPole-v1, Pendulum-v1, Acrobot-v1, MountainCar-v0 and
                      MountainCarContinuous-v0, drawn with numpy from the positions and angles
                      their observations hold (gymnax's own renderer goes through gymnasium and
                      pygame, which the base install does not have)
    MinAtar           each object channel of the 10 x 10 grid in its own colour
    Gridworld-*       the map with the agent, the map's own `render_rgb`
    Atari             the newest of the stacked 84 x 84 frames

`renderer(spec)` returns `frame(obs) -> (H, W, 3) uint8`; an env without a renderer is refused
with `NoRendererError`, which names the ones there are.
"""

from __future__ import annotations

import colorsys
import functools
from collections.abc import Callable

import numpy as np

from .registry import EnvSpec, make, suite


class NoRendererError(ValueError):
    """The env has no renderer; the message lists the envs that have one."""


Frame = Callable[[np.ndarray], np.ndarray]


class Canvas:
    """A white RGB image to draw segments and discs on, in pixel coordinates (x right, y down);
    sizes are multiples of 16, which video encoders want."""

    def __init__(self, height: int, width: int):
        self.image = np.full((height, width, 3), 255, np.uint8)
        self.y, self.x = _grid(height, width)

    def segment(self, start, end, width: float, color) -> None:
        """A thick line from `start` to `end` ((x, y) pixels) with round ends."""
        (x0, y0), (x1, y1) = start, end
        dx, dy = x1 - x0, y1 - y0
        t = ((self.x - x0) * dx + (self.y - y0) * dy) / max(dx * dx + dy * dy, 1e-9)
        t = np.clip(t, 0.0, 1.0)
        near = (self.x - x0 - t * dx) ** 2 + (self.y - y0 - t * dy) ** 2 <= (width / 2) ** 2
        self.image[near] = color

    def disc(self, center, radius: float, color) -> None:
        (cx, cy) = center
        self.image[(self.x - cx) ** 2 + (self.y - cy) ** 2 <= radius**2] = color

    def box(self, x0: float, y0: float, x1: float, y1: float, color) -> None:
        self.image[(self.x >= x0) & (self.x <= x1) & (self.y >= y0) & (self.y <= y1)] = color


@functools.cache
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:height, 0:width].astype(np.float32)


DARK, BLUE, ORANGE, GREY = (40, 40, 40), (70, 110, 200), (205, 130, 60), (160, 160, 160)


def cartpole(obs: np.ndarray) -> np.ndarray:
    """x, x_dot, theta, theta_dot: the cart at x (the track is +-2.4 wide), the pole at theta
    from upright."""
    x, theta = float(obs[0]), float(obs[2])
    canvas, scale, ground = Canvas(288, 480), 480 / 4.8, 200
    cx = 240 + x * scale
    canvas.segment((0, ground + 12), (480, ground + 12), 2, DARK)
    canvas.box(cx - 25, ground - 10, cx + 25, ground + 10, DARK)
    length = 1.0 * scale  # the pole's full length, 2 x its half-length 0.5
    top = (cx + length * np.sin(theta), ground - length * np.cos(theta))
    canvas.segment((cx, ground), top, 9, ORANGE)
    canvas.disc((cx, ground), 4, GREY)
    return canvas.image


def pendulum(obs: np.ndarray) -> np.ndarray:
    """cos(theta), sin(theta), theta_dot: the rod at theta from upright."""
    cos, sin = float(obs[0]), float(obs[1])
    canvas, c, length = Canvas(288, 288), (144, 144), 105
    canvas.segment(c, (c[0] + length * sin, c[1] - length * cos), 16, ORANGE)
    canvas.disc(c, 5, DARK)
    return canvas.image


def acrobot(obs: np.ndarray) -> np.ndarray:
    """cos/sin of both joint angles (theta1 from hanging down, theta2 relative to link 1); the
    goal is the tip above the line one link over the pivot."""
    theta1 = np.arctan2(float(obs[1]), float(obs[0]))
    theta2 = np.arctan2(float(obs[3]), float(obs[2]))
    canvas, c, link = Canvas(288, 288), (144, 144), 62
    canvas.segment((0, c[1] - link), (288, c[1] - link), 2, GREY)
    p1 = (c[0] + link * np.sin(theta1), c[1] + link * np.cos(theta1))
    p2 = (p1[0] + link * np.sin(theta1 + theta2), p1[1] + link * np.cos(theta1 + theta2))
    canvas.segment(c, p1, 10, BLUE)
    canvas.segment(p1, p2, 10, BLUE)
    canvas.disc(c, 5, DARK)
    canvas.disc(p1, 5, DARK)
    return canvas.image


def mountain_car(obs: np.ndarray) -> np.ndarray:
    """position, velocity: the car on the hill y = sin(3 x), the flag at 0.5."""
    low, high, width, height = -1.2, 0.6, 480, 288
    canvas = Canvas(height, width)

    def to_pixel(pos: float) -> tuple[float, float]:
        return (pos - low) / (high - low) * width, height - (np.sin(3 * pos) * 0.45 + 0.6) * 220

    track = [to_pixel(p) for p in np.linspace(low, high, 60)]
    for a, b in zip(track, track[1:], strict=False):
        canvas.segment(a, b, 3, DARK)
    flag = to_pixel(0.5)
    canvas.segment(flag, (flag[0], flag[1] - 40), 3, DARK)
    canvas.box(flag[0], flag[1] - 40, flag[0] + 22, flag[1] - 28, (220, 190, 40))
    car = to_pixel(float(obs[0]))
    canvas.disc((car[0], car[1] - 10), 11, ORANGE)
    return canvas.image


CLASSIC: dict[str, Frame] = {
    "CartPole-v1": cartpole,
    "Pendulum-v1": pendulum,
    "Acrobot-v1": acrobot,
    "MountainCar-v0": mountain_car,
    "MountainCarContinuous-v0": mountain_car,
}


def channel_colors(count: int) -> np.ndarray:
    """`count` distinct bright colours, (count, 3) uint8."""
    hues = [colorsys.hsv_to_rgb(i / max(count, 1), 0.75, 0.95) for i in range(count)]
    return (np.array(hues) * 255).astype(np.uint8)


def minatar(obs: np.ndarray, shape: tuple[int, ...], tile: int = 16) -> np.ndarray:
    """The (10, 10, C) grid of object channels, each channel in its colour on black."""
    grid = np.asarray(obs).reshape(shape)
    colors = channel_colors(shape[-1])
    image = np.zeros((*shape[:2], 3), np.uint8)
    for channel in range(shape[-1]):
        image[grid[..., channel] > 0] = colors[channel]
    return np.kron(image, np.ones((tile, tile, 1), np.uint8))


def gridworld(obs: np.ndarray, env) -> np.ndarray:
    """The map with the agent where the observation puts it (index, one-hot or row and column)."""
    obs = np.asarray(obs)
    if env.obs_mode == "onehot":
        pos = int(obs.argmax())
    elif env.obs_mode == "rowcol":
        pos = env.grid.cells.index((int(obs[0]), int(obs[1])))
    else:
        pos = int(obs.reshape(-1)[0])
    return env.render_rgb(pos)


def atari(obs: np.ndarray) -> np.ndarray:
    """The newest frame of the stack (C, 84, 84), grey, twice the size."""
    frame = np.asarray(obs)[-1].astype(np.uint8)
    return np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1)[..., None].repeat(3, axis=-1)


def renderer(spec: EnvSpec) -> Frame:
    """`frame(obs) -> (H, W, 3) uint8` for one env's observation of `spec`'s env.

    Raises:
        NoRendererError: the env has none (the message lists those that have one).
    """
    env_id = spec.env_id
    if env_id in CLASSIC:
        return CLASSIC[env_id]
    family = suite(env_id)
    if family == "gridworld":
        env, _ = make(env_id, **dict(spec.options))
        return functools.partial(gridworld, env=env)
    if family == "atari":
        return atari
    if env_id.endswith("-MinAtar"):
        env, params = make(env_id)
        return functools.partial(minatar, shape=tuple(env.observation_space(params).shape))
    raise NoRendererError(
        f"env_id={env_id!r}: no renderer for its frames; videos are made for "
        f"{', '.join(CLASSIC)}, the MinAtar games, the Gridworld maps and Atari"
    )
