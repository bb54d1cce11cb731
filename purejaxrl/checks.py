"""Value checks for configs: each failure is one `ConfigError` line naming the field, the value
and what is allowed (`name=value: allowed`), raised before anything is built or written.

The env checks read an `envs.EnvSpec` (spaces, discrete or not, image observations) that the
runner computes once per run; none of them builds an environment.
"""

from __future__ import annotations

import math

from purejaxrl import envs


class ConfigError(ValueError):
    """A config value is out of range; the message names the field, the value and what is allowed."""


def require(config, name: str, ok: bool, allowed: str) -> None:
    """Raises `ConfigError("name=value: allowed")` unless `ok`."""
    if not ok:
        raise ConfigError(f"{name}={getattr(config, name)!r}: {allowed}")


def require_divides(config, name: str, divisor_name: str) -> None:
    """Requires `getattr(config, name)` to be a positive multiple of `getattr(config, divisor_name)`."""
    value, divisor = getattr(config, name), getattr(config, divisor_name)
    require(config, divisor_name, divisor >= 1, "must be >= 1")
    require(
        config,
        name,
        value >= divisor and value % divisor == 0,
        f"must be a positive multiple of {divisor_name}={divisor}",
    )


def require_finite_in(
    config, name: str, low: float, high: float, *, open_low=False, open_high=False
):
    """Requires a finite value in the interval [low, high] (ends excluded where asked)."""
    value = getattr(config, name)
    ok = math.isfinite(value) and (value > low if open_low else value >= low)
    ok = ok and (value < high if open_high else value <= high)
    interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    require(config, name, ok, f"must be a finite number in {interval}")


def require_box_observations(config, spec: envs.EnvSpec) -> None:
    """Requires real-valued (Box) observations, as the actor-critics' networks need; tabular envs
    with integer observations (the Gridworld-* ids) are for q_learning and dqn."""
    require(
        config,
        "env_id",
        not spec.tabular,
        f"this algorithm needs vector (Box) observations, this env's are "
        f"{type(spec.observation_space).__name__} (use q_learning or dqn on tabular envs)",
    )


def require_torso(config, spec: envs.EnvSpec) -> None:
    """The network body must suit the observations: a CNN needs stacked frames (C, H, W), an MLP
    needs vectors. `torso="auto"` always does."""
    shape = spec.observation_space.shape
    if config.torso in ("nature_cnn", "small_cnn"):
        require(
            config,
            "torso",
            spec.image_observations,
            f"needs image observations, this env's are {shape}",
        )
    elif config.torso == "mlp":
        require(
            config,
            "torso",
            not spec.image_observations,
            f"needs vector observations, this env's are {shape}",
        )
