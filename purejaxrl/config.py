"""Config conventions shared by every algorithm: static vs traced fields, validation, grids.

An algorithm's config is a frozen dataclass deriving from `BaseConfig`, one docstring under each
field (tyro shows it in `--help`). Fields that set shapes or loop counts are static: changing them
recompiles. Numeric hyperparameters declared with `traced(default)` are not baked into the
compiled program: `train(key, hparams)` receives them as arrays, so a grid of values trains in the
same compiled call as the seeds.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

HParams = dict[str, jax.Array]
"""Traced hyperparameters by field name; scalars for one run, shape (R,) for R runs."""


class ConfigError(ValueError):
    """A config value is out of range; the message names the field, the value and what is allowed."""


def traced(default: float) -> Any:
    """Declares a numeric hyperparameter that is passed to `train` as an array, not compiled in."""
    return dataclasses.field(default=default, metadata={"traced": True})


def traced_fields(config_cls_or_obj) -> tuple[str, ...]:
    """Names of the traced fields of a config class or instance, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(config_cls_or_obj) if f.metadata.get("traced"))


def hparams(config) -> HParams:
    """The config's traced values as float32 scalars: the `hparams` of a single run."""
    return {name: jnp.float32(getattr(config, name)) for name in traced_fields(config)}


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
    """Show a progress bar fed from inside the compiled loop."""
    progress_ticks: int = 100
    """How many times (at most) the progress bar is fed during a run; it never fires more than once per update."""
    compilation_cache: str = "~/.cache/purejaxrl/jax"
    """JAX's persistent compilation cache directory, so a re-run skips compilation; empty to disable."""
    devices: int = 0
    """Devices to shard the runs over (0: all visible; see PUREJAXRL_CPU_DEVICES for the CPU)."""
    env_options: tuple[str, ...] = ()
    """Atari (envpool) options as key=value, e.g. episodic_life=False repeat_action_probability=0.25;
    gymnax envs take none."""

    atari_defaults: ClassVar[dict[str, Any]] = {}
    """Field values that replace the defaults when env_id is an Atari game; empty: no Atari."""

    @classmethod
    def for_env(cls, env_id: str, **overrides):
        """The config with this env's defaults: the Atari ones for an Atari id, then `overrides`."""
        from envs import is_atari

        defaults = cls.atari_defaults if is_atari(env_id) else {}
        return cls(**{**defaults, "env_id": env_id, **overrides})

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """What `envs.make_batched` takes besides the id and batch size: the seed of host-side envs
        (envpool) and the parsed env_options."""
        return {"seed": self.seed, **self.parsed_env_options}

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

    def validate(self) -> None:
        """Raises `ConfigError` for the first bad value. Subclasses extend it and call super()."""
        from envs import AtariExtraMissingError, UnknownEnvironmentError, check_env_id, is_atari
        from envs.atari import check_options

        try:
            check_env_id(self.env_id)
        except (UnknownEnvironmentError, AtariExtraMissingError) as error:
            raise ConfigError(f"env_id: {error}") from None
        options = self.parsed_env_options
        if is_atari(self.env_id):
            require(
                self,
                "env_id",
                bool(self.atari_defaults),
                "an Atari game; this algorithm does not support Atari (ppo and dqn do)",
            )
            try:
                check_options(options)
            except ValueError as error:
                raise ConfigError(f"env_options: {error}") from None
        else:
            require(self, "env_options", not options, "only Atari (envpool) envs take options")
        require(self, "total_timesteps", self.total_timesteps > 0, "must be > 0")
        require(self, "num_seeds", self.num_seeds >= 1, "must be >= 1")
        require(self, "progress_ticks", self.progress_ticks >= 1, "must be >= 1")
        require(self, "devices", self.devices >= 0, "must be >= 0")


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

    `points[g]` is the config of grid point g; `hparams[name]` has shape (G,).
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


def require_box_observations(config) -> None:
    """Requires vector (Box) observations, as the MLP actor-critics need; tabular envs with integer
    observations (the Gridworld-* ids) are for q_learning and dqn."""
    from gymnax.environments import spaces

    from envs import make_batched

    space = make_batched(config.env_id, 1, **config.env_kwargs).observation_space
    require(
        config,
        "env_id",
        isinstance(space, spaces.Box),
        f"this algorithm needs vector (Box) observations, this env's are {type(space).__name__} "
        "(use q_learning or dqn on tabular envs)",
    )


def require_replay_schedule(config) -> None:
    """The size and schedule checks shared by the replay-based algorithms (DQN, DDPG).

    Expects num_envs, buffer_size, batch_size, gradient_steps, learning_starts, train_frequency,
    steps_per_update and total_timesteps on the config.
    """
    for name in ("num_envs", "buffer_size", "batch_size", "gradient_steps"):
        require(config, name, getattr(config, name) >= 1, "must be >= 1")
    total, buffer_size = config.total_timesteps, config.buffer_size
    require(
        config, "learning_starts", 0 <= config.learning_starts < total,
        f"must be in [0, total_timesteps={total}) or no gradient step is taken",
    )  # fmt: skip
    require(
        config, "batch_size", config.batch_size <= buffer_size,
        f"must be <= buffer_size={buffer_size} (a batch is sampled from the buffer)",
    )  # fmt: skip
    require(
        config, "num_envs", config.num_envs <= buffer_size,
        f"must be <= buffer_size={buffer_size} (each env step adds num_envs transitions)",
    )  # fmt: skip
    for name, divisor in (
        ("train_frequency", "num_envs"),
        ("steps_per_update", "train_frequency"),
        ("total_timesteps", "steps_per_update"),
    ):
        value, by = getattr(config, name), getattr(config, divisor)
        require(
            config, name, value >= 1 and value % by == 0,
            f"must be a positive multiple of {divisor}={by}",
        )  # fmt: skip


def require_torso(config) -> None:
    """The network body must suit the observations: a CNN needs stacked frames (C, H, W), an MLP
    needs vectors. `torso="auto"` always does."""
    from envs import make_batched

    shape = make_batched(config.env_id, 1, **config.env_kwargs).observation_space.shape
    if config.torso in ("nature_cnn", "small_cnn"):
        require(
            config, "torso", len(shape) == 3, f"needs image observations, this env's are {shape}"
        )
    elif config.torso == "mlp":
        require(
            config, "torso", len(shape) <= 1, f"needs vector observations, this env's are {shape}"
        )
