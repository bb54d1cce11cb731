"""Offline AWR (advantage-weighted regression on a fixed dataset); results in runs/<env>/awr_offline/.

    purejaxrl collect runs/CartPole-v1/dqn/<time> --mode replay --out data/cartpole-mr \
        --split medium-replay
    python -m purejaxrl.awr_offline --dataset data/cartpole-mr --num-seeds 8
    python -m purejaxrl.awr_offline --dataset data/cartpole-mr --beta 0.3 1.0 3.0 --num-seeds 8
    python -m purejaxrl.awr_offline --env-id Pendulum-v1 --dataset data/pendulum-medium
    python -m purejaxrl.awr_offline --dataset random     # a random dataset made on the spot

AWR (Peng, Kumar, Zhang and Levine 2019, "Advantage-Weighted Regression: Simple and Scalable
Off-Policy Reinforcement Learning", which also trains it on static datasets) with the dataset in
place of the FIFO of recent samples: the value function regresses on TD(lambda) returns of the
dataset's trajectories, and the policy regresses on the dataset's actions weighted by
exp(A / beta), clipped, A = R - V(s). Behaviour cloning (`purejaxrl/bc.py`) is the same policy
regression with every weight 1: where the data mixes good and bad actions, AWR can prefer the
good ones, and BC copies the mix.

What it shares: the losses, weights, networks and policy of online AWR (`purejaxrl/awr.py`:
`value_loss`, `advantage_weights`, `policy_loss`, `ValueNetwork`, `make_form`, `make_policy`),
the GAE recursion (`purejaxrl/returns.py`), and the offline loop (`purejaxrl/offline.py`). One
update is one AWR iteration: `prepare` computes, with the current critic, every row's TD(lambda)
return and advantage over the whole dataset (`dataset_lambda_returns`, along the dataset's stream
layout), then `steps_per_update` gradient steps each take one minibatch and move both networks,
the critic towards the returns and the policy by the weighted likelihood, then the greedy policy
is evaluated. The paper fits the value function first and weights the policy's samples with the
new one; here the weights come from the critic as it was at the update's start (one iteration
behind), which lets both regressions share the offline loop's one minibatch scan.

Defaults: the paper's lambda 0.95, beta 1, weight clip 20, standardised advantages, networks
(128, 64) with ReLU, batch 256; Adam at 1e-3 for both networks (BC's optimiser and rate; the
paper's SGD settings were made for its online schedule, see awr.py), 500 gradient steps per
update (an iteration of the paper runs 200 value and 1000 policy steps), and 2e4 steps in all,
as BC: for datasets of about 1e5 transitions. Like online AWR, the critic's output is read as
(1 - gamma) V; continuous actions are regressed in normalised units ([-1, 1] spans the Box).

Reading map, top to bottom:
  AWROfflineConfig         the offline fields plus AWR's (traced: lrs, gamma, lambda, beta, clip)
  dataset_lambda_returns   TD(lambda) returns and values of every row of a dataset
  dataset_targets_and_weights   those, and the policy's advantage weights
  make_learner             prepare (returns, weights), the joint loss, two Adam rates
  make_policy              online AWR's: the mode of the policy on the Box
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import chex
import jax
import jax.numpy as jnp
import optax

from purejaxrl import envs
from purejaxrl.awr import (
    AWRParams,
    ValueNetwork,
    advantage_weights,
    make_form,
    make_policy,
    make_sampling_policy,
    policy_loss,
    require_awr_fields,
    value_loss,
)
from purejaxrl.bc import dataset_report
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import Learner, learner_inputs, scan_updates
from purejaxrl.networks import ActivationName, from_env_action
from purejaxrl.offline import OfflineConfig, load_dataset, make_offline_learner
from purejaxrl.offpolicy import env_actions
from purejaxrl.returns import generalized_advantage_estimation

__all__ = [
    "AWROfflineConfig", "Config", "dataset_lambda_returns", "dataset_report",
    "dataset_targets_and_weights", "make_learner",
    "make_policy", "make_sampling_policy", "make_train",
]  # fmt: skip


@dataclass(frozen=True)
class AWROfflineConfig(OfflineConfig):
    """Advantage-Weighted Regression on a fixed dataset (Peng et al. 2019).

    A gradient step moves the value function and the policy on one minibatch; total_timesteps
    counts those steps.
    """

    hidden_sizes: tuple[int, ...] = (128, 64)
    """Hidden layer widths of the policy and of the value network (the paper's)."""
    activation: ActivationName = "relu"
    """Hidden activation."""
    normalize_advantages: bool = True
    """Standardise the advantages over the dataset before weighting them (as the paper does)."""
    actor_lr: float = traced(1e-3)
    """Adam learning rate of the policy."""
    critic_lr: float = traced(1e-3)
    """Adam learning rate of the value function."""
    gamma: float = traced(0.99)
    """Discount factor."""
    td_lambda: float = traced(0.95)
    """lambda of the TD(lambda) returns the value function regresses on."""
    beta: float = traced(1.0)
    """Temperature: the weight of a row is exp(A / beta), > 0."""
    weight_clip: float = traced(20.0)
    """Largest weight of a row, > 0."""
    action_std: float = traced(0.2)
    """Standard deviation of the Gaussian policy in normalised action units, fixed; it scales
    the policy's loss (not the step, with Adam) and sets the sampling policy's spread; unused for
    discrete actions."""

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require_awr_fields(self, spec)
        return spec


Config = AWROfflineConfig
AWROfflineHParams = hparams_type(AWROfflineConfig)
"""`hp`: AWROfflineConfig's traced fields as float32 arrays."""


def dataset_lambda_returns(
    data: dict,
    value_fn: Callable[[jax.Array], jax.Array],
    gamma: jax.Array | float,
    lambda_: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """TD(lambda) returns R and values V(s) of every row of a dataset in stream order.

    The rows are one env's steps in time order, stream after stream (`datasets.py`), so the
    whole dataset is one time axis whose trajectories end at a row flagged terminal, timeout or
    stream end. On it, `returns.generalized_advantage_estimation` gives (Sutton and Barto 2018,
    section 12.1; the paper's R^D):

        R_t = r_t + gamma (1 - terminal_t) [(1 - lambda c_t) V(s'_t) + lambda c_t R_{t+1}]

    with c_t = 0 where a trajectory ends at t (terminal, timeout or stream end), else 1: a
    timeout or a stream end bootstraps from V(next_observations_t), a terminal from nothing, and
    no return runs on into the next trajectory.

    Args:
        data: the dataset's arrays (`datasets.STEP_FIELDS`), (M, ...) each.
        value_fn: observations (M, *obs_shape) -> (M,).

    Returns:
        (returns, values), each (M,).
    """
    rewards, terminals = data["rewards"], data["terminals"]
    chex.assert_rank(rewards, 1)
    chex.assert_equal_shape([rewards, terminals, data["timeouts"], data["stream_ends"]])
    ends = terminals | data["timeouts"] | data["stream_ends"]
    values = value_fn(data["observations"])
    _, returns = generalized_advantage_estimation(
        rewards, values, value_fn(data["next_observations"]), terminals, ends, gamma, lambda_
    )
    return returns, values


def dataset_targets_and_weights(
    data: dict,
    value_fn: Callable[[jax.Array], jax.Array],
    hp: AWROfflineHParams,
    normalize: bool = True,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """What an iteration of offline AWR regresses on, for every row of the dataset: the value
    targets R (`dataset_lambda_returns` with hp.gamma, hp.td_lambda), the values V(s), and the
    policy's weights min(exp(A' / hp.beta), hp.weight_clip) of A = R - V (`awr.advantage_weights`,
    standardised over the dataset when `normalize`).

    Returns:
        (returns, values, weights), each (M,); no gradient flows through the weights.
    """
    returns, values = dataset_lambda_returns(data, value_fn, hp.gamma, hp.td_lambda)
    weights = advantage_weights(returns - values, hp.beta, hp.weight_clip, normalize)
    return returns, values, weights


def make_learner(config: AWROfflineConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds offline AWR's `Learner` for `config` (static fields only; traced ones as `hp`)."""
    config, spec = learner_inputs(config, spec)
    form = make_form(config, spec)
    critic = ValueNetwork(config.hidden_sizes, config.activation)
    space = spec.action_space

    def init_params(key, obs) -> AWRParams:
        actor_key, critic_key = jax.random.split(key)
        return AWRParams(form.actor.init(actor_key, obs), critic.init(critic_key, obs))

    def prepare(params: AWRParams, data: dict, hp: AWROfflineHParams):
        """Every row's target (1 - gamma) R (the critic's scale) and weight, from the critic."""
        value_scale = 1.0 / (1.0 - hp.gamma)
        returns, values, weights = dataset_targets_and_weights(
            data,
            lambda obs: value_scale * critic.apply(params.critic, obs),
            hp,
            config.normalize_advantages,
        )
        advantage = returns - values  # (M,)
        arrays = {"target": returns / value_scale, "weight": weights}
        metrics = {
            "advantage_mean": advantage.mean(),
            "weight_mean": weights.mean(),
            "clipped_fraction": jnp.mean(weights >= hp.weight_clip),
            "value_mean": values.mean(),
        }
        return arrays, metrics

    def loss(params: AWRParams, batch: dict, hp: AWROfflineHParams):
        actions = batch["actions"]
        if not spec.discrete_actions:  # the Gaussian lives in normalised units
            actions = from_env_action(actions, space).reshape((actions.shape[0], -1))
        v_loss = value_loss(critic.apply(params.critic, batch["observations"]), batch["target"])
        dist = form.dist(params.actor, batch["observations"], hp)
        pi_loss = policy_loss(dist.log_prob(actions), batch["weight"])
        # the two losses share no parameters: one gradient of their sum is both regressions'
        return v_loss + pi_loss, {
            "loss": v_loss,  # the value regression's (the runner's divergence check)
            "policy_loss": pi_loss,
            "entropy": dist.entropy().mean(),
        }

    def greedy(params: AWRParams, obs: jax.Array, key) -> jax.Array:
        """`make_policy`'s mode, read off the actor's output (which needs no `hp`)."""
        out = form.actor.apply(params.actor, obs)  # logits (E, A), or the mean (E, D)
        return env_actions(jnp.argmax(out, axis=-1) if spec.discrete_actions else out, spec)

    def optimizer(hp: AWROfflineHParams) -> optax.GradientTransformation:
        return optax.multi_transform(
            {"actor": optax.adam(hp.actor_lr), "critic": optax.adam(hp.critic_lr)},
            lambda params: AWRParams(
                jax.tree.map(lambda _: "actor", params.actor),
                jax.tree.map(lambda _: "critic", params.critic),
            ),
        )

    return make_offline_learner(
        config, spec, load_dataset(config, spec),
        init_params=init_params, loss=loss, optimizer=optimizer,
        act=greedy, export=lambda state: export(state.params), prepare=prepare,
    )  # fmt: skip


def export(params: AWRParams) -> dict:
    """What a checkpoint keeps (online AWR's layout, so `make_policy` is online AWR's)."""
    return {"actor": params.actor, "critic": params.critic}


def make_train(config: AWROfflineConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("awr_offline")
