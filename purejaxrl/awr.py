"""Online AWR (advantage-weighted regression), discrete or continuous actions; results in runs/<env>/awr/.

    python -m purejaxrl.awr --env-id CartPole-v1 --num-seeds 8
    python -m purejaxrl.awr --env-id Pendulum-v1 --num-seeds 8
    python -m purejaxrl.awr --beta 0.3 1.0 3.0 --num-seeds 8      # 3 x 8 runs, one compiled call

AWR (Peng, Kumar, Zhang and Levine 2019, "Advantage-Weighted Regression: Simple and Scalable
Off-Policy Reinforcement Learning") alternates two supervised regressions on a FIFO buffer of the
most recent samples: the value function regresses on TD(lambda) returns R, then the policy
regresses on the buffer's own actions, each weighted by exp(A / beta) with A = R - V(s), the
weight clipped. Its paper's defaults are this file's: lambda 0.95, beta 1, weight clip 20,
advantages normalised, a 50k-sample buffer, 2048 new samples per iteration, 200 value steps and
1000 policy steps of batch 256, SGD with momentum 0.9.

The loop is `offpolicy.py`'s, with one AWR iteration as its gradient step: a training phase
steps the envs `train_frequency / num_envs` times with actions sampled from the policy (the
paper's samples_per_iter = train_frequency), stores them in the replay buffer, whose capacity is
the FIFO of the paper, then runs `gradient_steps` AWR iterations (1, as the paper). The TD(lambda)
returns need each env's steps in order: the loop writes one row of num_envs transitions per env
step into consecutive slots, so the flat buffer read as (buffer_size / num_envs, num_envs) is
every env's trajectory in time order, starting at the write position (`buffer_lambda_returns`).

Why this loop and not the on-policy rollout: AWR learns from a buffer that holds the last 50k
samples, many policies old, and fits on batches drawn from all of it, which is what the replay
buffer already does; the one thing AWR adds, returns that run along trajectories, the buffer's
row layout gives without a second store. It refuses envpool's envs, whose dummy reset steps
are left out of the buffer and would break that layout.

Two departures from the paper, both for the value regression: the critic's output is read as
(1 - gamma) V, so that it regresses on targets of the scale of one reward (Pendulum's returns near
-1000 made SGD at the paper's 0.01 diverge at once), and observations are not normalised (the
paper standardises them with statistics of its first samples; CartPole's and Pendulum's are of
order one). On Pendulum-v1 the paper's SGD settings barely learn in 1e5 steps;
benchmarks/awr_online.py runs it with Adam (lr 1e-3 for both networks) and action_std 0.4.

The losses take plain arrays of one batch (`value_loss`, `advantage_weights`, `policy_loss`), so
that offline AWR on a dataset (`purejaxrl/awr_offline.py`) reuses them as they are, with the
networks (`ValueNetwork`, `make_form`) and the policy (`make_policy`).

Reading map, top to bottom:
  AWRConfig       static fields (schedule, sizes, step counts) and traced ones (`hp.beta`, ...)
  value_loss, advantage_weights, policy_loss   the two regressions and their weights
  buffer_lambda_returns   TD(lambda) returns and values of every stored sample
  AWRState, AWRForm       the learner state; the policy's form (categorical or Gaussian)
  make_learner    AWR's part of the off-policy loop (`offpolicy.make_update`): act by sampling,
                  and the iteration (value fit, then policy fit)
  make_train      the whole run as one pure function of (key, hp)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxrl import envs
from purejaxrl.checks import require, require_box_observations, require_finite_in
from purejaxrl.distributions import Categorical, DiagGaussian
from purejaxrl.hparams import hparams, hparams_type, traced
from purejaxrl.learner import Learner, Metrics, learner_inputs, scan_updates
from purejaxrl.networks import MLP, ActivationName, CategoricalActor, DeterministicActor
from purejaxrl.offpolicy import (
    OffPolicyAgent,
    OffPolicyConfig,
    env_actions,
    example_transition,
    make_update,
    require_bounded_box_actions,
)
from purejaxrl.replay import BufferState, ReplayBuffer, Transition
from purejaxrl.returns import generalized_advantage_estimation


@dataclass(frozen=True)
class AWRConfig(OffPolicyConfig):
    """Advantage-Weighted Regression, online (Peng et al. 2019).

    The replay schedule fields are documented on `OffPolicyConfig`; here train_frequency is the
    paper's samples per iteration, buffer_size its FIFO of recent samples (a multiple of
    num_envs), and a gradient step of the loop is one whole AWR iteration.
    """

    env_id: str = "CartPole-v1"
    """Environment id (a gymnax id; discrete actions get a categorical policy, a Box a Gaussian
    one with a fixed standard deviation)."""
    total_timesteps: int = 200_000
    """Environment steps per run (summed over parallel envs)."""
    num_envs: int = 8
    buffer_size: int = 50_000
    batch_size: int = 256
    learning_starts: int = 0
    train_frequency: int = 2048
    gradient_steps: int = 1
    steps_per_update: int = 2048
    critic_steps: int = 200
    """Value-function gradient steps per iteration, each on a batch of batch_size samples."""
    actor_steps: int = 1000
    """Policy gradient steps per iteration, each on a batch of batch_size samples."""
    normalize_advantages: bool = True
    """Standardise the advantages over the buffer before weighting them (as the paper does)."""
    hidden_sizes: tuple[int, ...] = (128, 64)
    """Hidden layer widths of the policy and of the value network (the paper's)."""
    activation: ActivationName = "relu"
    """Hidden activation."""
    optimizer: Literal["sgd", "adam"] = "sgd"
    """The optimizer of both networks: SGD with momentum (the paper's), or Adam."""
    actor_lr: float = traced(5e-5)
    """Learning rate of the policy."""
    critic_lr: float = traced(1e-2)
    """Learning rate of the value function."""
    momentum: float = traced(0.9)
    """SGD momentum of both (--optimizer sgd), in [0, 1)."""
    gamma: float = traced(0.99)
    """Discount factor."""
    td_lambda: float = traced(0.95)
    """lambda of the TD(lambda) returns the value function regresses on."""
    beta: float = traced(1.0)
    """Temperature: the weight of a sample is exp(A / beta), > 0."""
    weight_clip: float = traced(20.0)
    """Largest weight of a sample, > 0."""
    action_std: float = traced(0.2)
    """Standard deviation of the Gaussian policy in normalised action units ([-1, 1] spans the
    Box), fixed (the paper's); unused for discrete actions."""

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        for name in ("critic_steps", "actor_steps"):
            require(self, name, getattr(self, name) >= 1, "must be >= 1")
        require(
            self, "buffer_size", self.buffer_size % self.num_envs == 0,
            f"must be a multiple of num_envs={self.num_envs} (one row of transitions per env "
            "step: the returns read each env's trajectory in order)",
        )  # fmt: skip
        require(
            self, "env_id", spec.vmappable,
            "AWR reads its buffer as trajectories, which envpool's dummy reset steps would break: "
            "JAX envs only",
        )  # fmt: skip
        require_awr_fields(self, spec)
        require_finite_in(self, "momentum", 0.0, 1.0, open_high=True)
        return spec


def require_awr_fields(config, spec: envs.EnvSpec) -> None:
    """Refuses (one line) bad values of the fields online and offline AWR share: the networks'
    widths, box observations, bounded actions, the learning rates, gamma, lambda, beta, the clip
    and the Gaussian's standard deviation."""
    require(config, "hidden_sizes", all(h >= 1 for h in config.hidden_sizes), "widths must be >= 1")
    require_box_observations(config, spec)
    if not spec.discrete_actions:
        require_bounded_box_actions(
            config,
            spec,
            "AWR needs a one-dimensional action Box with finite bounds (or discrete actions)",
        )
    require_finite_in(config, "actor_lr", 0.0, math.inf, open_low=True)
    require_finite_in(config, "critic_lr", 0.0, math.inf, open_low=True)
    require_finite_in(config, "gamma", 0.0, 1.0, open_high=True)
    require_finite_in(config, "td_lambda", 0.0, 1.0)
    require_finite_in(config, "beta", 0.0, math.inf, open_low=True)
    require_finite_in(config, "weight_clip", 0.0, math.inf, open_low=True)
    require_finite_in(config, "action_std", 0.0, math.inf, open_low=True)


Config = AWRConfig
AWRHParams = hparams_type(AWRConfig)
"""`hp`: AWRConfig's traced fields as float32 arrays (`hp.<field>`), scalars in one run."""


def value_loss(v: jax.Array, target: jax.Array) -> jax.Array:
    """L_V = 1/2 E[(V(s) - R)^2], the target held fixed: the value regression of AWR (Peng et al.
    2019, Algorithm 1, line 5), with R the TD(lambda) return of the stored sample.

    Args:
        v, target: (B,).
    """
    chex.assert_equal_shape([v, target])
    return 0.5 * jnp.square(v - jax.lax.stop_gradient(target)).mean()


def advantage_weights(
    advantage: jax.Array,
    beta: jax.Array | float,
    weight_clip: jax.Array | float,
    normalize: bool = True,
    mask: jax.Array | None = None,
) -> jax.Array:
    """w = min(exp(A' / beta), weight_clip): the weights of AWR's policy regression (Peng et al.
    2019, eq. 9 and section 5), A' the advantages standardised over the entries of `mask` (mean
    0, standard deviation 1) when `normalize`, else A itself.

    Args:
        advantage: (B,) A = R - V(s). mask: (B,) bool, the entries the statistics are taken over
            (the filled slots of a buffer); None for all.

    Returns:
        (B,) weights in (0, weight_clip], no gradient.
    """
    chex.assert_rank(advantage, 1)
    if normalize:
        weight = jnp.ones_like(advantage) if mask is None else mask.astype(advantage.dtype)
        count = jnp.maximum(weight.sum(), 1.0)
        mean = (advantage * weight).sum() / count
        std = jnp.sqrt((jnp.square(advantage - mean) * weight).sum() / count)
        advantage = (advantage - mean) / (std + 1e-8)
    return jax.lax.stop_gradient(jnp.minimum(jnp.exp(advantage / beta), weight_clip))


def policy_loss(log_prob: jax.Array, weight: jax.Array) -> jax.Array:
    """L_pi = -E[w log pi(a|s)] over stored (s, a) with weights w held fixed: the weighted
    maximum-likelihood step of AWR (Peng et al. 2019, Algorithm 1, line 6).

    Args:
        log_prob, weight: (B,) log pi(a|s) of the stored actions, `advantage_weights`.
    """
    chex.assert_equal_shape([log_prob, weight])
    return -(jax.lax.stop_gradient(weight) * log_prob).mean()


def buffer_lambda_returns(
    data: Transition,
    position: jax.Array,
    num_envs: int,
    value_fn: Callable[[jax.Array], jax.Array],
    gamma: jax.Array | float,
    lambda_: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """TD(lambda) returns R and values V(s) of every slot of a buffer the loop filled.

    The loop writes one row of `num_envs` transitions per env step, so the C slots read as
    (C / num_envs, num_envs) rows hold each env's steps in time order, oldest at row
    position / num_envs once the buffer has wrapped. Rolled to that order, the returns are
    `returns.generalized_advantage_estimation`'s (Sutton and Barto 2018, section 12.1; the
    paper's R^D):

        R_t = r_t + gamma (1 - terminated_t) [(1 - lambda c_t) V(s'_t) + lambda c_t R_{t+1}]

    with c_t = 0 where the episode ended (terminated or truncated) after step t or t is the newest
    row, else 1. A truncated step bootstraps from V of its true next observation. Empty slots
    (before the buffer is full, rows after the newest) come first in that order and feed nothing
    into the filled ones; their values are meaningless: mask them.

    Args:
        data: the buffer's `Transition`s, leaves (C, ...). position: () int32 the next slot
            written, a multiple of num_envs. value_fn: observations (..., *obs_shape) -> (...).

    Returns:
        (returns, values), each (C,), aligned with the slots.
    """
    rows = jax.tree.leaves(data)[0].shape[0] // num_envs
    shift = position // num_envs  # the oldest row, or the first empty one

    def in_time_order(x):  # (C, ...) -> (rows, N, ...), the newest row last
        return jnp.roll(x.reshape((rows, num_envs, *x.shape[1:])), -shift, axis=0)

    obs, next_obs = in_time_order(data.obs), in_time_order(data.next_obs)
    terminated = in_time_order(data.terminated)
    done = terminated | in_time_order(data.truncated)
    values = value_fn(obs)  # (rows, N)
    _, returns = generalized_advantage_estimation(
        in_time_order(data.reward), values, value_fn(next_obs), terminated, done, gamma, lambda_
    )
    return jnp.roll(returns, shift, axis=0).reshape(-1), jnp.roll(values, shift, axis=0).reshape(-1)


class ValueNetwork(nn.Module):
    """An MLP torso and a linear head; returns shape obs.shape[:-1]. AWR reads its output as
    (1 - gamma) V(s): it regresses on (1 - gamma) R, targets of the scale of one reward."""

    hidden_sizes: Sequence[int] = (128, 64)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return nn.Dense(1)(MLP(self.hidden_sizes, self.activation)(obs))[..., 0]


class AWRForm(NamedTuple):
    """The policy's form, chosen once from the action space (`make_form`)."""

    actor: nn.Module
    dist: Callable[..., Any]
    """(actor_params, obs (B, ...), hp) -> the policy's `Categorical` or `DiagGaussian` there."""
    action_example: jax.Array  # one stored action, for the buffer's layout


def make_form(config: AWRConfig, spec: envs.EnvSpec) -> AWRForm:
    """Categorical over discrete actions; for a Box, a Gaussian in normalised units around a tanh
    mean (in [-1, 1]) with the fixed `hp.action_std` (the paper bounds a linear mean with a
    penalty instead). Actions are stored as sampled; the env receives them clipped to the Box."""
    if spec.discrete_actions:
        actor = CategoricalActor(spec.num_actions, config.hidden_sizes, config.activation)
        return AWRForm(
            actor,
            lambda params, obs, hp: Categorical(actor.apply(params, obs)),
            jnp.zeros((), jnp.int32),
        )
    action_dim = math.prod(spec.action_space.shape)
    actor = DeterministicActor(action_dim, config.hidden_sizes, config.activation)

    def dist(params, obs, hp):
        mean = actor.apply(params, obs)
        return DiagGaussian(mean, jnp.full_like(mean, jnp.log(hp.action_std)))

    return AWRForm(actor, dist, jnp.zeros((action_dim,)))


@struct.dataclass
class AWRParams:
    actor: Any
    critic: Any


@struct.dataclass
class AWRState:
    params: AWRParams
    actor_opt_state: Any
    critic_opt_state: Any
    buffer: BufferState  # the FIFO of recent samples, leaves (buffer_size, ...)
    env_state: Any
    obs: jax.Array  # (N, *obs_shape) current observation of every env
    timesteps: jax.Array  # () int32 env steps taken, all envs together
    key: jax.Array


def make_learner(config: AWRConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds AWR's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, config.num_envs)
    form = make_form(config, spec)
    critic = ValueNetwork(config.hidden_sizes, config.activation)
    buffer = ReplayBuffer(config.buffer_size)
    capacity, batch_size = config.buffer_size, config.batch_size

    def optimizers(hp: AWRHParams):
        if config.optimizer == "adam":
            return optax.adam(hp.actor_lr), optax.adam(hp.critic_lr)
        return (
            optax.sgd(hp.actor_lr, momentum=hp.momentum),
            optax.sgd(hp.critic_lr, momentum=hp.momentum),
        )

    def init(key: jax.Array, hp: AWRHParams) -> AWRState:
        key, actor_key, critic_key, env_key = jax.random.split(key, 4)
        obs, env_state = env.reset(env_key)
        params = AWRParams(form.actor.init(actor_key, obs), critic.init(critic_key, obs))
        actor_tx, critic_tx = optimizers(hp)
        return AWRState(
            params=params,
            actor_opt_state=actor_tx.init(params.actor),
            critic_opt_state=critic_tx.init(params.critic),
            buffer=buffer.init(example_transition(obs, form.action_example)),
            env_state=env_state,
            obs=obs,
            timesteps=jnp.int32(0),
            key=key,
        )

    def act(state: AWRState, hp: AWRHParams, key) -> tuple[AWRState, jax.Array]:
        """Actions (N, ...) sampled from the policy."""
        return state, form.dist(state.params.actor, state.obs, hp).sample(key)

    def iteration(state: AWRState, hp: AWRHParams, key) -> tuple[AWRState, Metrics]:
        """One AWR iteration on the buffer: critic_steps value steps on the TD(lambda) returns of
        the current V, then actor_steps policy steps weighted by the advantages of the new V."""
        critic_key, actor_key = jax.random.split(key)
        actor_tx, critic_tx = optimizers(hp)
        data, size = state.buffer.data, state.buffer.size
        filled = jnp.arange(capacity) < size  # (C,) the buffer fills from slot 0

        value_scale = 1.0 / (1.0 - hp.gamma)  # the critic's output is V (1 - gamma)

        def lambda_returns(critic_params) -> tuple[jax.Array, jax.Array]:
            return buffer_lambda_returns(
                data,
                state.buffer.position,
                config.num_envs,
                lambda obs: value_scale * critic.apply(critic_params, obs),
                hp.gamma,
                hp.td_lambda,
            )

        def sample(key) -> jax.Array:  # (B,) slots, uniformly from the filled ones
            return jax.random.randint(key, (batch_size,), 0, size)

        targets, _ = lambda_returns(state.params.critic)

        def critic_step(carry, key):
            params, opt_state = carry
            index = sample(key)
            loss, grads = jax.value_and_grad(
                lambda p: value_loss(critic.apply(p, data.obs[index]), targets[index] / value_scale)
            )(params)
            updates, opt_state = critic_tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (critic_params, critic_opt_state), value_losses = jax.lax.scan(
            critic_step,
            (state.params.critic, state.critic_opt_state),
            jax.random.split(critic_key, config.critic_steps),
        )

        returns, values = lambda_returns(critic_params)
        advantage = returns - values  # (C,)
        weights = advantage_weights(
            advantage, hp.beta, hp.weight_clip, config.normalize_advantages, filled
        )

        def actor_step(carry, key):
            params, opt_state = carry
            index = sample(key)

            def objective(p):
                dist = form.dist(p, data.obs[index], hp)
                return policy_loss(dist.log_prob(data.action[index]), weights[index]), dist

            (loss, dist), grads = jax.value_and_grad(objective, has_aux=True)(params)
            updates, opt_state = actor_tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (loss, dist.entropy().mean())

        (actor_params, actor_opt_state), (policy_losses, entropy) = jax.lax.scan(
            actor_step,
            (state.params.actor, state.actor_opt_state),
            jax.random.split(actor_key, config.actor_steps),
        )

        def filled_mean(x):
            return jnp.sum(jnp.where(filled, x, 0.0)) / size

        state = state.replace(
            params=AWRParams(actor_params, critic_params),
            actor_opt_state=actor_opt_state,
            critic_opt_state=critic_opt_state,
        )
        return state, {
            "loss": value_losses.mean(),  # the value regression's (the runner's divergence check)
            "policy_loss": policy_losses.mean(),
            "entropy": entropy.mean(),
            "advantage_mean": filled_mean(advantage),
            "weight_mean": filled_mean(weights),
            "clipped_fraction": filled_mean(weights >= hp.weight_clip),
            "value_mean": filled_mean(values),
        }

    update = make_update(config, env, buffer, spec, OffPolicyAgent(act, iteration))

    def export(state: AWRState) -> dict:
        return {"actor": state.params.actor, "critic": state.params.critic}

    return Learner(init, update, export, config.num_updates, config.steps_per_update)


def make_train(config: AWRConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: AWRConfig, spec: envs.EnvSpec | None = None, sample: bool = False):
    """`act(exported, obs, key) -> action`: the policy's mode (the most probable discrete action;
    the Gaussian's mean mapped onto the Box), or with `sample` a sample of it (the Gaussian with
    `config.action_std`: in a grid over action_std, the config's own value), clipped to the Box."""
    spec = config.env_spec() if spec is None else spec
    form = make_form(config, spec)
    hp = hparams(config)

    def act(exported: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        dist = form.dist(exported["actor"], obs, hp)
        return env_actions(dist.sample(key) if sample else dist.mode(), spec)

    return act


def make_sampling_policy(config: AWRConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: a sample of the policy (`collect --mode stochastic`)."""
    return make_policy(config, spec, sample=True)


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("awr")
