"""Config conventions shared by every algorithm: static vs traced fields, validation, grids.

An algorithm's config is a frozen dataclass deriving from `BaseConfig`, one docstring under each
field (tyro shows it in `--help`). Fields that set shapes or loop counts are static: changing them
recompiles. Numeric hyperparameters declared with `traced(default)` are not baked into the
compiled program: `train(key, hp)` receives them as a typed pytree (`hp.lr`, `hp.gamma`; see
`hparams_type`), so a grid of values trains in the same compiled call as the seeds.

Inside an algorithm the config is read through `static_view`: its traced fields hold one grid
point's values only, so reading them there is refused with an error that names `hp.<field>`.

Checks read an `envs.EnvSpec` (spaces, discrete or not, image observations, episode limit) that
the runner computes once per run; none of them builds an environment.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

import envs

HParams = Any
"""A config's traced hyperparameters: an instance of `hparams_type(ConfigClass)`, a NamedTuple
with one field per traced field; scalars for one run, shape (R,) for R runs."""


class ConfigError(ValueError):
    """A config value is out of range; the message names the field, the value and what is allowed."""


class TracedFieldError(RuntimeError):
    """A traced hyperparameter was read from the config inside a learner instead of from `hp`."""


def traced(default: float) -> Any:
    """Declares a numeric hyperparameter that is passed to `train` as an array, not compiled in."""
    return dataclasses.field(default=default, metadata={"traced": True})


def traced_fields(config_cls_or_obj) -> tuple[str, ...]:
    """Names of the traced fields of a config class or instance, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(config_cls_or_obj) if f.metadata.get("traced"))


@functools.cache
def hparams_type(config_cls: type) -> type:
    """The NamedTuple of `config_cls`'s traced fields, e.g. `PPOHParams(lr, gamma, ...)`.

    A pytree, so it vmaps and stacks like any other; a misspelt field is an AttributeError when
    the learner is traced, not a silent default.
    """
    names = traced_fields(config_cls)
    name = config_cls.__name__.removesuffix("Config") + "HParams"
    cls = collections.namedtuple(name, names)
    cls.__doc__ = f"Traced hyperparameters of {config_cls.__name__}: {', '.join(names)}."
    cls.__module__ = config_cls.__module__
    return cls


def hparams(config) -> HParams:
    """The config's traced values as float32 scalars: the `hp` of a single run."""
    values = [jnp.float32(getattr(config, name)) for name in traced_fields(config)]
    return hparams_type(type(config))(*values)


class StaticView:
    """A config as a learner sees it: static fields and properties read through, traced refused.

    `make_learner` works from this view; the per-run values of traced fields arrive as `hp`.
    """

    __slots__ = ("_config", "_traced")

    def __init__(self, config):
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_traced", frozenset(traced_fields(config)))

    def __getattr__(self, name: str):
        if name in self._traced:
            raise TracedFieldError(
                f"config.{name} is a traced hyperparameter: read hp.{name} inside the learner "
                "(the config holds one grid point's value, hp holds each run's)"
            )
        return getattr(self._config, name)

    def __setattr__(self, name: str, value) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __repr__(self) -> str:
        return f"StaticView({self._config!r})"

    @property
    def config(self):
        """The config itself, traced fields included (for outputs, never for training)."""
        return self._config


def static_view(config) -> StaticView:
    """`config` behind a `StaticView` (unchanged if it already is one)."""
    return config if isinstance(config, StaticView) else StaticView(config)


@dataclass(frozen=True)
class BaseConfig:
    """Fields every algorithm has: what to train on, for how long, and how to run it."""

    env_id: str = "CartPole-v1"
    """Environment id (any gymnax id, e.g. CartPole-v1, Pendulum-v1, Acrobot-v1)."""
    total_timesteps: int = 500_000
    """Environment steps per run (summed over parallel envs)."""
    num_seeds: int = 1
    """Independent seeds, trained together in one compiled call (vmapped)."""
    seed: int = 0
    """Base seed; run i uses the i-th split of jax.random.key(seed)."""
    runs_dir: str = "runs"
    """Outputs go to <runs-dir>/<env-id>/<algo>/<time>/."""
    progress: bool = True
    """Show progress after every chunk: a bar on a terminal, a plain line every ~10% or ~30 s in a log."""
    chunk_updates: int = 0
    """Updates per compiled chunk: the host sees the run (progress, divergence, checkpoints, live
    metrics, Ctrl-C) between chunks. 0: auto, 1% of the run's updates (at least 1)."""
    checkpoint_every: int = 1000
    """Save a full-state checkpoint every N updates (at the next chunk boundary); 0: only at the
    end. A checkpoint is also saved at the end and when the run is interrupted."""
    keep_checkpoints: int = 2
    """How many checkpoints to keep (the newest)."""
    tensorboard: bool = True
    """Write TensorBoard event files to <run-dir>/tensorboard at every chunk (also written when
    wandb_project is set)."""
    wandb_project: str = ""
    """Also log to this Weights & Biases project (needs the wandb extra); empty: off."""
    compilation_cache: str = "~/.cache/purejaxrl/jax"
    """JAX's persistent compilation cache directory, so a re-run skips compilation; empty to disable."""
    devices: int = 0
    """Devices to shard the runs over (0: all visible; see PUREJAXRL_CPU_DEVICES for the CPU)."""
    env_options: tuple[str, ...] = ()
    """Atari (envpool) options as key=value, e.g. episodic_life=False repeat_action_probability=0.25;
    gymnax envs take none."""

    suite_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    """Per env suite (`envs.suite`: "atari", ...), field values that replace the class defaults."""
    supports_image_observations: ClassVar[bool] = False
    """Whether the algorithm has a network for image observations (a CNN torso)."""

    @classmethod
    def for_env(cls, env_id: str, **overrides):
        """The config with this env's defaults (its suite's, e.g. Atari's), then `overrides`."""
        defaults = cls.suite_defaults.get(envs.suite(env_id), {})
        return cls(**{**defaults, "env_id": env_id, **overrides})

    @property
    def parsed_env_options(self) -> dict[str, Any]:
        """env_options as a dict, each value read as a Python literal (else kept as a string)."""
        options = {}
        for item in self.env_options:
            name, sep, text = item.partition("=")
            if not sep or not name:
                raise ConfigError(f"env_options: {item!r} is not key=value")
            try:
                options[name] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                options[name] = text
        return options

    def env_spec(self) -> envs.EnvSpec:
        """The `envs.EnvSpec` of env_id with env_options and seed; raises `ConfigError` for a bad
        id or option. Builds no envpool pool."""
        try:
            return envs.spec(self.env_id, seed=self.seed, **self.parsed_env_options)
        except (envs.UnknownEnvironmentError, envs.AtariExtraMissingError) as error:
            raise ConfigError(f"env_id: {error}") from None
        except envs.EnvOptionError as error:
            raise ConfigError(f"env_options={self.env_options!r}: {error}") from None

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        """Raises `ConfigError` for the first bad value; returns the env spec it checked against.

        Subclasses extend it: `spec = super().validate(spec)`, then their own checks.

        Args:
            spec: this config's `env_spec()`, computed if not given (the runner computes it once
                for all grid points).
        """
        spec = self.env_spec() if spec is None else spec
        if spec.env_id != self.env_id:
            raise ValueError(f"the spec is of {spec.env_id!r}, the config of {self.env_id!r}")
        require(
            self, "env_id", self.supports_image_observations or not spec.image_observations,
            f"image observations {spec.observation_space.shape}: this algorithm has MLPs only "
            "and does not support Atari (ppo and dqn do)",
        )  # fmt: skip
        require(self, "total_timesteps", self.total_timesteps > 0, "must be > 0")
        require(self, "num_seeds", self.num_seeds >= 1, "must be >= 1")
        require(self, "chunk_updates", self.chunk_updates >= 0, "must be >= 0 (0: auto)")
        require(
            self, "checkpoint_every", self.checkpoint_every >= 0, "must be >= 0 (0: at the end)"
        )
        require(self, "keep_checkpoints", self.keep_checkpoints >= 1, "must be >= 1")
        require(self, "devices", self.devices >= 0, "must be >= 0")
        return spec


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


@dataclass(frozen=True)
class Grid:
    """A hyperparameter grid: one config per point, every traced field stacked as an array.

    `points[g]` is the config of grid point g; `hparams().lr` (any traced field) has shape (G,).
    """

    points: tuple[Any, ...]
    axes: dict[str, tuple[float, ...]]

    @classmethod
    def from_values(cls, config, values: Mapping[str, Sequence[float]] | None = None) -> Grid:
        """The cartesian product of `values` (traced field -> list of values) over `config`."""
        values = dict(values or {})
        names = traced_fields(config)
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ConfigError(
                f"{unknown[0]}: not a traced hyperparameter; traced: {', '.join(names)}"
            )
        axes = {name: tuple(float(v) for v in values[name]) for name in names if name in values}
        for name, vals in axes.items():
            if not vals:
                raise ConfigError(f"{name}: needs at least one value")
        points = tuple(
            dataclasses.replace(config, **dict(zip(axes, combo, strict=True)))
            for combo in itertools.product(*axes.values())
        )
        return cls(points, {k: v for k, v in axes.items() if len(v) > 1})

    def __len__(self) -> int:
        return len(self.points)

    def hparams(self) -> HParams:
        """Every traced field stacked over grid points, shape (G,)."""
        return jax.tree.map(lambda *xs: jnp.stack(xs), *[hparams(p) for p in self.points])

    def labels(self) -> list[str]:
        """A short label per grid point naming the swept values, e.g. 'lr=0.001'."""
        if not self.axes:
            return [""]
        return [", ".join(f"{k}={getattr(p, k):g}" for k in self.axes) for p in self.points]


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
