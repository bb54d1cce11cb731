"""The fields every algorithm's config has, in two groups that do different jobs.

An algorithm's config is a frozen dataclass deriving from `BaseConfig`, one docstring under each
field (tyro shows it in `--help`). `BaseConfig` joins

- `TaskConfig`: what to train on and for how long (env id, env options, step budget); these
  change the result;
- `RunConfig`: how the runner runs it (seeds, where outputs go, chunks, checkpoints, progress,
  live logging, compilation cache, devices); besides `num_seeds` and `seed` (and `devices`, in
  the last bits), none of these change a run's numbers. An algorithm's per-suite defaults keep
  them apart: `suite_defaults` for task and algorithm fields, `suite_run_defaults` for these.

Fields that set shapes or loop counts are static: changing them recompiles. Numeric
hyperparameters declared with `traced(default)` reach `train(key, hp)` as arrays
(`purejaxrl.hparams`); grids of them are `purejaxrl.grid.Grid`; value checks raise
`purejaxrl.checks.ConfigError`. Those names are importable from here too.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from purejaxrl import envs
from purejaxrl.checks import (
    ConfigError,
    require,
    require_box_observations,
    require_divides,
    require_finite_in,
    require_torso,
)
from purejaxrl.grid import Grid
from purejaxrl.hparams import (
    HParams,
    StaticView,
    TracedFieldError,
    hparams,
    hparams_type,
    static_view,
    traced,
    traced_fields,
)

INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1

__all__ = [
    "BaseConfig", "ConfigError", "Grid", "HParams", "RunConfig", "StaticView", "TaskConfig",
    "TracedFieldError", "hparams", "hparams_type", "require", "require_box_observations",
    "require_divides", "require_finite_in", "require_torso", "run_fields", "static_view", "traced",
    "traced_fields",
]  # fmt: skip


@dataclass(frozen=True)
class TaskConfig:
    """What to train on and for how long."""

    env_id: str = "CartPole-v1"
    """Environment id (any gymnax id, e.g. CartPole-v1, Pendulum-v1, Acrobot-v1)."""
    total_timesteps: int = 500_000
    """Environment steps per run (summed over parallel envs), rounded down to whole updates."""
    env_options: tuple[str, ...] = ()
    """Env options as key=value. Atari (envpool): e.g. episodic_life=False
    repeat_action_probability=0.25. JAX envs (gymnax, probes, gridworlds): obs_keep=I,J,... keeps
    those entries of the (flattened) observation, e.g. obs_keep=0,2 on CartPole-v1 hides the
    velocities; and the int/float fields of their parameters, e.g. memory_length=20 on
    MemoryChain-bsuite or max_steps_in_episode=200."""

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


@dataclass(frozen=True)
class RunConfig:
    """How the runner runs a config: seeds, outputs, chunks, checkpoints, display, devices."""

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
    eval_episodes: int = 10
    """At the end of a complete run, play this many episodes per run with the greedy policy and
    record their returns in summary.json (JAX envs only, not Atari; one more compilation, a few
    seconds on a CPU); 0: none."""

    def validate_run(self) -> None:
        """Raises `ConfigError` for the first bad run setting."""
        require(self, "num_seeds", self.num_seeds >= 1, "must be >= 1")
        require(self, "chunk_updates", self.chunk_updates >= 0, "must be >= 0 (0: auto)")
        require(
            self, "checkpoint_every", self.checkpoint_every >= 0, "must be >= 0 (0: at the end)"
        )
        require(self, "keep_checkpoints", self.keep_checkpoints >= 1, "must be >= 1")
        require(self, "devices", self.devices >= 0, "must be >= 0")
        require(self, "eval_episodes", self.eval_episodes >= 0, "must be >= 0 (0: none)")


def run_fields() -> tuple[str, ...]:
    """The names of `RunConfig`'s fields."""
    return tuple(f.name for f in dataclasses.fields(RunConfig))


@dataclass(frozen=True)
class BaseConfig(RunConfig, TaskConfig):
    """Fields every algorithm has: the task (`TaskConfig`) and how to run it (`RunConfig`)."""

    suite_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    """Per env suite (`envs.suite`: "atari", ...), task and algorithm field values that replace
    the class defaults: what the suite's reference settings change in the result."""
    suite_run_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    """Per env suite, `RunConfig` values that replace its defaults (e.g. smaller chunks where an
    update takes seconds); they change how the run is seen and saved, not its numbers."""
    supports_image_observations: ClassVar[bool] = False
    """Whether the algorithm has a network for image observations (a CNN torso)."""
    step_unit: ClassVar[str] = "env steps"
    """What `total_timesteps`, the curves' x axis and steps/s count (offline algorithms:
    gradient steps)."""
    returns_played_by: ClassVar[str] = ""
    """Where an offline algorithm's `episode_return` comes from, for the summary and the table;
    empty: the training episodes, played by the exploring policy (`outputs.FINAL_RETURN_DEFINITION`)."""
    plays_board_games: ClassVar[bool] = False
    """Whether the algorithm trains on the two-player pgx games (suite "pgx": tic_tac_toe, ...);
    only those that search the game tree by self-play do (alphazero)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        run = set(run_fields())
        for suite, values in cls.__dict__.get("suite_defaults", {}).items():
            if set(values) & run:
                raise TypeError(
                    f"{cls.__name__}.suite_defaults[{suite!r}] sets run settings "
                    f"{sorted(set(values) & run)}: put them in suite_run_defaults"
                )
        for suite, values in cls.__dict__.get("suite_run_defaults", {}).items():
            if set(values) - run:
                raise TypeError(
                    f"{cls.__name__}.suite_run_defaults[{suite!r}] sets {sorted(set(values) - run)}, "
                    "not run settings (RunConfig): put them in suite_defaults"
                )

    @classmethod
    def suites(cls) -> list[str]:
        """The env suites with defaults of their own."""
        return sorted(set(cls.suite_defaults) | set(cls.suite_run_defaults))

    @classmethod
    def defaults_for_suite(cls, suite: str) -> dict[str, Any]:
        """The field values a suite's envs start from: `suite_defaults`, `suite_run_defaults`."""
        return {**cls.suite_defaults.get(suite, {}), **cls.suite_run_defaults.get(suite, {})}

    @classmethod
    def for_env(cls, env_id: str, **overrides):
        """The config with this env's defaults (its suite's, e.g. Atari's), then `overrides`."""
        defaults = cls.defaults_for_suite(envs.suite(env_id))
        return cls(**{**defaults, "env_id": env_id, **overrides})

    def env_spec(self) -> envs.EnvSpec:
        """The `envs.EnvSpec` of env_id with env_options and seed; raises `ConfigError` for a bad
        id or option. Builds no envpool pool."""
        try:
            return envs.spec(self.env_id, seed=self.seed, **self.parsed_env_options)
        except (
            envs.UnknownEnvironmentError,
            envs.AtariExtraMissingError,
            envs.MujocoExtraMissingError,
            envs.BoardGameExtraMissingError,
            envs.SuiteExtraMissingError,
            envs.UnsupportedSuiteIdError,
        ) as error:
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
        require(
            self, "env_id", self.plays_board_games or spec.suite != "pgx",
            "a two-player board game: only alphazero trains on it",
        )  # fmt: skip
        require(self, "total_timesteps", self.total_timesteps > 0, "must be > 0")
        self.validate_run()
        self.validate_int_ranges()
        return spec

    def checkpoint_facts(self) -> dict[str, Any]:
        """Facts about the run's inputs, besides its config, that every checkpoint records and a
        resumed run must match (checked on restore, one line if not): none here; an algorithm
        that reads a file the config only names (a dataset) adds its digest."""
        return {}

    def validate_int_ranges(self) -> None:
        """Every integer field must fit the integers it becomes: JAX computes in int32 (x64 is
        off), so a count past 2**31 - 1 (the env-step counters, update indices, buffer slots)
        would wrap around; the seed is a uint32 key word, and larger seeds would repeat others."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if type(value) is not int:
                continue
            if f.name == "seed":
                require(self, "seed", 0 <= value <= UINT32_MAX, f"must be in [0, {UINT32_MAX}]")
            else:
                require(
                    self, f.name, abs(value) <= INT32_MAX,
                    f"must be at most {INT32_MAX:,} in size: JAX counts in int32",
                )  # fmt: skip
