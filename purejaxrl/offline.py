"""The offline family: learners that train on a fixed dataset and play the env only to be scored.

An offline algorithm (behaviour cloning, `purejaxrl/bc.py`; offline AWR, `purejaxrl/awr_offline.py`)
derives its config from `OfflineConfig` and builds its learner with `make_offline_learner`, giving
it its network, loss and optimiser, and optionally a `prepare` step. An update is: `prepare` on
the whole dataset with the current parameters, if given (offline AWR computes every row's
TD(lambda) target and advantage weight there), then `steps_per_update` gradient steps on
minibatches drawn uniformly (with replacement) from the dataset and the prepared arrays, then
`eval_envs` episodes of the greedy policy in the env (a JAX env, or envpool's MuJoCo on the
host: one pool of runs x eval_envs envs for all the runs vmapped together, as online learners use
it): their mean return is the update's `episode_return`, so the run's curve, final return, table
and checkpoints mean what they mean for every other algorithm, with gradient steps in place of env
steps on the x axis (`total_timesteps` counts gradient steps here). Seeds, grids of traced
hyperparameters, chunks, checkpoints and `--resume` come from the shared runner unchanged.

The dataset (`purejaxrl/datasets.py`, made by `purejaxrl collect`) is read once per process and
held in the compiled program as constants, shared by every run of the sweep; the seeds differ in
their initial parameters, minibatches and evaluation episodes, not in their data. `--dataset
random` stands for the `random` split made on the spot (`random_dataset_steps` steps of a uniformly
random policy, from `--seed`), so that an offline algorithm runs without a file: the contract
tests use it, and cloning it is the random baseline.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxrl import datasets, envs
from purejaxrl.checks import require
from purejaxrl.config import BaseConfig
from purejaxrl.learner import Learner, Metrics
from purejaxrl.rollout import first_episode_returns

RANDOM = "random"
"""The `dataset` value that stands for a random-policy dataset made on the spot."""
RANDOM_DATASET_ENVS = 16
"""Parallel streams of the on-the-spot random dataset."""


@dataclass(frozen=True)
class OfflineConfig(BaseConfig):
    """Fields every offline algorithm has: the dataset, minibatches, updates and evaluation."""

    step_unit: ClassVar[str] = "gradient steps"
    returns_played_by: ClassVar[str] = (
        "the greedy evaluation episodes (eval_envs, each from its own reset) played after each "
        "update"
    )

    env_id: str = "CartPole-v1"
    """Environment id: the dataset's env, where the policy is evaluated."""
    total_timesteps: int = 20_000
    """Gradient steps per run (offline: training takes no env steps), rounded down to whole
    updates of steps_per_update; the curves' x axis and env_steps count these."""
    dataset: str = ""
    """The dataset folder (`purejaxrl collect ... --out PATH`), or `random`: random_dataset_steps
    steps of a uniformly random policy, made from --seed when the run starts."""
    random_dataset_steps: int = 10_000
    """With --dataset random: its size, in transitions."""
    batch_size: int = 256
    """Transitions per minibatch, drawn uniformly from the dataset with replacement."""
    steps_per_update: int = 500
    """Gradient steps per update; after each update the policy is evaluated in the env."""
    eval_envs: int = 8
    """Episodes of the greedy policy played after every update, each in its own env; their mean
    return is the update's episode_return."""

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        for name in ("batch_size", "steps_per_update", "eval_envs"):
            require(self, name, getattr(self, name) >= 1, "must be >= 1")
        require(
            self, "total_timesteps", self.num_updates >= 1,
            f"must be >= steps_per_update = {self.steps_per_update} (one update)",
        )  # fmt: skip
        require(
            self, "env_id", spec.vmappable or spec.suite == "mujoco",
            "offline algorithms play JAX envs and envpool's MuJoCo tasks only (not Atari)",
        )  # fmt: skip
        check_dataset(self, spec)
        return spec

    def checkpoint_facts(self) -> dict:
        return dataset_facts(self)


def dataset_facts(config) -> dict:
    """The dataset file's digest, for `checkpoint_facts`: `--resume` refuses a dataset that
    changed since the run started (the random one is made from the config, which a resume
    keeps)."""
    if config.dataset == RANDOM:
        return {}
    return {"dataset_sha256": datasets.digest(config.dataset)}


def check_dataset(config, spec: envs.EnvSpec) -> None:
    """Refuses in one line a config (with `dataset`, `random_dataset_steps`) that names no
    dataset, a random one of too few steps, or a folder that is missing, damaged or of another
    env than `spec`'s."""
    require(
        config, "dataset", bool(config.dataset),
        "give a dataset folder (purejaxrl collect RUN_DIR --out PATH), or random",
    )  # fmt: skip
    if config.dataset == RANDOM:
        require(
            config, "random_dataset_steps", config.random_dataset_steps >= RANDOM_DATASET_ENVS,
            f"must be >= {RANDOM_DATASET_ENVS} (one step per stream)",
        )  # fmt: skip
    else:
        load_dataset(config, spec)  # refuses a missing or mismatched dataset in one line


def load_dataset(config, spec: envs.EnvSpec) -> datasets.Dataset:
    """The config's dataset, checked against `spec` (`datasets.load`), or the random one."""
    if config.dataset == RANDOM:
        return _random_dataset(spec.env_id, spec.options, config.random_dataset_steps, config.seed)
    path = Path(config.dataset).expanduser()
    try:
        stamp = (path / datasets.DATA_FILE).stat().st_mtime_ns
    except OSError:
        stamp = None
    dataset = _read_dataset(str(path), stamp)
    datasets.check_env(dataset, spec, path)
    return dataset


@functools.lru_cache(maxsize=4)
def _read_dataset(path: str, stamp: int | None) -> datasets.Dataset:
    """A dataset read once per process (and again when its file changes: `stamp`)."""
    return datasets.load(path)


@functools.lru_cache(maxsize=4)
def _random_dataset(env_id: str, options: tuple, steps: int, seed: int) -> datasets.Dataset:
    from purejaxrl.collect import random_dataset

    spec = envs.spec(env_id, **dict(options))
    return random_dataset(spec, RANDOM_DATASET_ENVS, steps, seed)


@struct.dataclass
class OfflineState:
    """The learner state of one offline run."""

    params: Any
    opt_state: Any
    key: jax.Array


def make_offline_learner(
    config,
    spec: envs.EnvSpec,
    dataset: datasets.Dataset,
    *,
    init_params: Callable[[jax.Array, jax.Array], Any],
    loss: Callable[[Any, dict, Any], tuple[jax.Array, Metrics]],
    optimizer: Callable[[Any], optax.GradientTransformation],
    act: Callable[[Any, jax.Array, jax.Array], jax.Array],
    export: Callable[[OfflineState], Any],
    fields: tuple[str, ...] = ("observations", "actions"),
    prepare: Callable[[Any, dict, Any], tuple[dict, Metrics]] | None = None,
) -> Learner:
    """The `Learner` of an offline algorithm on `dataset`.

    Args:
        config: the algorithm's config (an `OfflineConfig`, static view).
        init_params: `(key, obs (B, *obs_shape)) -> params`.
        loss: `(params, batch, hp) -> (scalar, metrics)`, `batch` the dataset's `fields`,
            (batch_size, ...) each.
        optimizer: `hp -> optax transformation`.
        act: the greedy policy, `(params, obs (E, ...), key) -> action (E, ...)`.
        export: learner state -> what a checkpoint keeps for `make_policy`'s act.
        fields: the dataset arrays the loss reads.
        prepare: `(params, data, hp) -> (arrays, metrics)`, run at the start of every update on
            the whole dataset, `data` every array of `datasets.STEP_FIELDS` (M, ...); its
            `arrays` (M, ...) join `fields` in the update's minibatches, its metrics the
            update's. None: nothing is prepared.
    """
    read = datasets.STEP_FIELDS if prepare is not None else fields
    data = {name: jnp.asarray(dataset.arrays[name]) for name in read}  # (M, ...) constants
    rows = len(dataset)
    env = envs.make_batched(spec, config.eval_envs)
    max_steps = (spec.episode_limit or 1000) + 1

    def init(key: jax.Array, hp) -> OfflineState:
        key, net_key = jax.random.split(key)
        params = init_params(net_key, data["observations"][: config.batch_size])
        return OfflineState(params, optimizer(hp).init(params), key)

    def update(state: OfflineState, hp) -> tuple[OfflineState, Metrics]:
        tx = optimizer(hp)
        grad_fn = jax.grad(lambda params, batch: loss(params, batch, hp), has_aux=True)
        prepared, prepared_metrics = (
            ({}, {}) if prepare is None else prepare(state.params, data, hp)
        )
        table = {**{name: data[name] for name in fields}, **prepared}  # (M, ...) each

        def gradient_step(carry, key):
            params, opt_state = carry
            index = jax.random.randint(key, (config.batch_size,), 0, rows)
            batch = {name: x[index] for name, x in table.items()}
            grads, metrics = grad_fn(params, batch)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), metrics

        key, steps_key, eval_key = jax.random.split(state.key, 3)
        (params, opt_state), metrics = jax.lax.scan(
            gradient_step, (state.params, state.opt_state),
            jax.random.split(steps_key, config.steps_per_update),
        )  # fmt: skip
        state = OfflineState(params, opt_state, key)
        metrics = jax.tree.map(jnp.mean, metrics)
        return state, {
            **evaluation_metrics(act, params, env, max_steps, eval_key, spec.vmappable),
            **prepared_metrics,
            **metrics,
        }  # fmt: skip

    return Learner(init, update, export, config.num_updates, config.steps_per_update)


def evaluation_metrics(
    act, params, env, max_steps: int, key: jax.Array, stop_early: bool = True
) -> Metrics:
    """`episode_return`, the mean over env's envs of the return of its first episode under the
    greedy `act` (played for up to max_steps, the episode limit + 1, so that each one ends), and
    `episodes`, their count. `stop_early`: `rollout.first_episode_returns`'s (False for an env
    stepped on the host)."""

    def act_with_memory(params, obs, key, carry, first):
        return act(params, obs, key), carry

    returns = first_episode_returns(act_with_memory, params, env, max_steps, key, None, stop_early)
    return {"episode_return": returns.mean(), "episodes": jnp.int32(returns.shape[0])}
