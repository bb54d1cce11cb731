"""Behaviour cloning: supervised learning of a dataset's actions; results in runs/<env>/bc/.

    purejaxrl collect runs/CartPole-v1/ppo/<time> --out data/cartpole-expert --split expert
    python -m purejaxrl.bc --dataset data/cartpole-expert --num-seeds 8
    python -m purejaxrl.bc --dataset data/cartpole-expert --lr 3e-4 1e-3 3e-3 --num-seeds 8
    python -m purejaxrl.bc --env-id Pendulum-v1 --dataset data/pendulum-expert --loss mse
    python -m purejaxrl.bc --dataset random        # clones a random policy made on the spot

Imitation learning in its plainest form (lecture 003: gather data about how experts perform, learn
a function that imitates what they do; Pomerleau 1989, ALVINN): fit pi(a | s) to the dataset's
(observation, action) pairs by maximum likelihood. It learns no values and never sees a reward,
so it can do no better than its data (D4RL's `medium` split shows it) and suffers compounding
errors where the data does not cover the states its own mistakes lead to.

Reading map, top to bottom:
  BCConfig        the offline fields (`offline.OfflineConfig`: dataset, batch, updates,
                  evaluation) plus the network, the loss and traced lr / max_grad_norm
  bc_loss         cross-entropy (discrete) or Gaussian negative log-likelihood / MSE (continuous)
  make_learner    `offline.make_offline_learner` with BC's network, loss and optimiser
  make_policy     the mode of the policy (what `evaluate` and the per-update evaluation play)
The dataset format is in `datasets.py`, its collection in `collect.py`, the offline update loop
(minibatches, evaluation episodes) in `offline.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import chex
import jax
import jax.numpy as jnp
import optax

from purejaxrl import envs
from purejaxrl.checks import require, require_box_observations, require_finite_in
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import Learner, Metrics, learner_inputs, scan_updates
from purejaxrl.networks import ActivationName, Policy, action_dim
from purejaxrl.offline import (
    OfflineConfig,
    OfflineState,
    load_dataset,
    make_offline_learner,
)

if TYPE_CHECKING:
    from purejaxrl.runner import RunResult


@dataclass(frozen=True)
class BCConfig(OfflineConfig):
    """Behaviour cloning (maximum likelihood of the dataset's actions)."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy."""
    activation: ActivationName = "tanh"
    """Hidden activation."""
    loss: Literal["nll", "mse"] = "nll"
    """nll: negative log-likelihood of the dataset's actions (cross-entropy for discrete
    actions; a Gaussian with a learned state-independent standard deviation for continuous
    ones); mse: squared error of the Gaussian's mean (continuous actions only)."""
    lr: float = traced(1e-3)
    """Adam learning rate."""
    max_grad_norm: float = traced(1.0)
    """Global gradient-norm clip."""

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require_box_observations(self, spec)
        require(self, "hidden_sizes", all(h >= 1 for h in self.hidden_sizes), "widths must be >= 1")
        require(
            self, "loss", self.loss == "nll" or not spec.discrete_actions,
            "mse regresses continuous actions; discrete ones take nll (cross-entropy)",
        )  # fmt: skip
        require_finite_in(self, "lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "max_grad_norm", 0.0, math.inf, open_low=True)
        return spec


Config = BCConfig
BCHParams = hparams_type(BCConfig)
"""`hp`: BCConfig's traced fields (lr, max_grad_norm) as float32 arrays."""


def bc_loss(dist, actions: jax.Array, loss: str = "nll") -> tuple[jax.Array, Metrics]:
    """Behaviour cloning's loss on a minibatch, to minimise (Pomerleau 1989; maximum likelihood).

      nll: -1/B sum_i log pi(a_i | s_i): for a Categorical policy the cross-entropy of the
           dataset's actions; for a DiagGaussian(mu(s), sigma) the Gaussian negative
           log-likelihood sum_d [(a_d - mu_d)^2 / (2 sigma_d^2) + log sigma_d + log(2 pi) / 2]
      mse: 1/B sum_i sum_d (a_{i,d} - mu_d(s_i))^2, the squared error of the Gaussian's mean

    Args:
        dist: the policy on the minibatch's observations: `Categorical` (B, A) logits or
            `DiagGaussian` (B, D).
        actions: (B,) int for discrete, (B, D) float for continuous.

    Returns:
        (loss, metrics): loss, and for discrete actions the accuracy of the greedy action.
    """
    if loss == "mse":
        chex.assert_equal_shape([dist.mean, actions])
        value = jnp.mean(jnp.sum(jnp.square(actions - dist.mean), axis=-1))
    else:
        value = -jnp.mean(dist.log_prob(actions))
    metrics = {"loss": value, "entropy": jnp.mean(dist.entropy())}
    if actions.ndim == 1:  # discrete
        metrics["accuracy"] = jnp.mean(dist.mode() == actions)
    return value, metrics


def make_network(config, spec: envs.EnvSpec) -> Policy:
    """The policy network for `spec`'s actions."""
    return Policy(action_dim(spec), spec.discrete_actions, config.hidden_sizes, config.activation)


def make_learner(config: BCConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds BC's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    network = make_network(config, spec)
    shape = () if spec.discrete_actions else tuple(spec.action_space.shape)

    def loss(params, batch: dict, hp: BCHParams):
        actions = batch["actions"].reshape((-1, math.prod(shape))) if shape else batch["actions"]
        return bc_loss(network.apply(params, batch["observations"]), actions, config.loss)

    def optimizer(hp: BCHParams) -> optax.GradientTransformation:
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(hp.lr))

    return make_offline_learner(
        config, spec, load_dataset(config, spec),
        init_params=network.init, loss=loss, optimizer=optimizer,
        act=make_policy(config, spec), export=export_policy,
    )  # fmt: skip


def export_policy(state: OfflineState):
    """What a checkpoint keeps for `make_policy`: the policy's parameters."""
    return state.params


def make_train(config: BCConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: BCConfig, spec: envs.EnvSpec | None = None, sample: bool = False):
    """`act(exported, obs, key) -> action`: the mode of the cloned policy (with `sample`, a
    sample of it), shaped as the env's actions."""
    spec = config.env_spec() if spec is None else spec
    network = make_network(config, spec)
    shape = () if spec.discrete_actions else tuple(spec.action_space.shape)

    def act(params, obs: jax.Array, key: jax.Array) -> jax.Array:
        dist = network.apply(params, obs)
        action = dist.sample(key) if sample else dist.mode()
        return action.reshape((obs.shape[0], *shape))

    return act


def make_sampling_policy(config: BCConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: a sample of the cloned policy."""
    return make_policy(config, spec, sample=True)


def dataset_report(result: RunResult) -> str | None:
    """The line printed after the table: the dataset BC learned from and its own mean return."""
    config = result.config
    dataset = load_dataset(config, config.env_spec())
    return (
        f"dataset: {config.dataset} (split {dataset.metadata.get('split')}), {len(dataset):,} "
        f"transitions, {dataset.episodes_text()}"
    )


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("bc")
