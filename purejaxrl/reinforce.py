"""REINFORCE on whole episodes, with reward-to-go and baselines as options; results in runs/<env>/reinforce/.

    python -m purejaxrl.reinforce --env-id CartPole-v1 --num-seeds 8
    python -m purejaxrl.reinforce --returns total --baseline none      # the plainest estimator
    python -m purejaxrl.reinforce --baseline mean --lr 1e-3 3e-3 --num-seeds 8

Each update resets every env and takes one gradient step on the score function estimator over the
episodes that start within the first `num_steps` steps of each env, each played to its end:

    grad J ~ (1 / episodes) sum_episodes sum_t grad log pi(a_t | s_t) psi_t

with psi_t the episode's total return, or the reward-to-go from t, minus an optional baseline.
`--discount-weights` multiplies the reward-to-go form by gamma^k (k: steps since the episode
began), the unbiased gradient of the discounted objective (Sutton and Barto 2018, section 13.3);
by default it is left out, as is common practice.
Every env plays num_steps + (the env's episode limit) steps, so every such episode ends inside the
rollout; the steps of episodes starting later are masked out of the gradient. Selecting episodes
by their start keeps the average unbiased (selecting those that end inside a fixed window would
favour short episodes). `total_timesteps` counts every env step played, masked ones included.

Reading map, top to bottom:
  ReinforceConfig         static fields and traced ones (`hp.lr`, `hp.gamma`, ...); the rollout
                          length follows from the env's episode limit (`EnvSpec.episode_limit`)
  ReinforceState          the learner state of one run
  score_function_loss     the REINFORCE surrogate; masked_scale, the weights' normalisation
  make_gradient_estimator one gradient from one window of whole episodes (reward-to-go or total
                          return from `returns.py`, minus the baseline)
  make_learner            update: one estimate, one Adam step, the running-mean baseline
  make_train              the whole run as one pure function of (key, hp)
Experience comes from `rollout.collect` and the actor-critic network from `networks.py`, both
shared with PPO and A2C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxrl import envs
from purejaxrl.checks import require, require_box_observations, require_finite_in
from purejaxrl.config import BaseConfig
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import Learner, Metrics, episode_metrics, learner_inputs, scan_updates
from purejaxrl.networks import (
    ActivationName,
    make_actor_critic,
    make_actor_critic_policy,
    make_actor_critic_sampler,
)
from purejaxrl.returns import (
    complete_episode_mask,
    episode_return,
    episodes_started_before,
    reward_to_go,
    steps_since_episode_start,
)
from purejaxrl.rollout import collect


@dataclass(frozen=True)
class ReinforceConfig(BaseConfig):
    """REINFORCE (Williams 1992): the Monte Carlo policy gradient, no bootstrapping."""

    env_id: str = "CartPole-v1"
    """Environment id (any gymnax id; discrete or continuous actions)."""
    total_timesteps: int = 1_000_000
    """Environment steps per run (num_envs * num_steps per update, masked steps included)."""
    num_envs: int = 8
    """Parallel environments per run; each plays from a fresh reset every update."""
    num_steps: int = 0
    """Episodes starting within this many steps of each env's rollout are used (each env plays
    num_steps + the episode limit steps per update); 0 picks the episode limit (500 for
    CartPole-v1). 1 keeps exactly one episode per env."""
    returns: Literal["reward_to_go", "total"] = "reward_to_go"
    """Weight of grad log pi(a_t | s_t): the discounted reward-to-go from t, or the whole episode's
    discounted return."""
    discount_weights: bool = False
    """Multiply each reward-to-go weight by gamma^k, k the steps its episode had taken: the
    gradient of the discounted objective E[G_0] (Sutton and Barto 2018, section 13.3), unbiased
    for it. Off (the common practice): later steps weigh as much as early ones, which is biased
    for that objective when gamma < 1. Needs --returns reward_to_go (the total return G_0
    already is the discounted objective's weight)."""
    baseline: Literal["none", "mean", "value"] = "value"
    """Subtracted from the weight: nothing, a running mean of past weights, or a learned V(s_t)."""
    normalize: bool = True
    """Divide the weights (after the baseline) by their root mean square over the batch. No
    centring, so the choice of baseline still matters."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run (steadier at the end)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy and of the value network."""
    activation: ActivationName = "tanh"
    """Hidden activation."""
    lr: float = traced(3e-3)
    """Adam learning rate (policy and value network)."""
    gamma: float = traced(0.99)
    """Discount factor of the returns."""
    vf_coef: float = traced(0.5)
    """Weight of the value regression in the loss (--baseline value)."""
    baseline_decay: float = traced(0.9)
    """Running mean baseline b <- decay b + (1 - decay) (mean return of the batch), per update
    (--baseline mean); the batch's own returns enter only after its gradient step."""
    max_grad_norm: float = traced(0.5)
    """Global gradient-norm clip."""

    def start_window(self, spec: envs.EnvSpec) -> int:
        """Steps of each env's rollout within which kept episodes start."""
        return self.num_steps or spec.episode_limit

    def steps_per_env(self, spec: envs.EnvSpec) -> int:
        """Rollout length per env: the start window plus the episode limit."""
        return self.start_window(spec) + spec.episode_limit

    def steps_per_update(self, spec: envs.EnvSpec) -> int:
        return self.num_envs * self.steps_per_env(spec)

    def num_updates(self, spec: envs.EnvSpec) -> int:
        return self.total_timesteps // self.steps_per_update(spec)

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require(self, "num_envs", self.num_envs >= 1, "must be >= 1")
        require(self, "num_steps", self.num_steps >= 0, "must be >= 0 (0: the episode limit)")
        require(
            self,
            "env_id",
            spec.episode_limit >= 1,
            "REINFORCE needs an env with an episode limit (max_steps_in_episode)",
        )
        require_box_observations(self, spec)
        require(
            self,
            "discount_weights",
            not (self.discount_weights and self.returns == "total"),
            "needs --returns reward_to_go (the total return is already the discounted "
            "objective's weight at every step)",
        )
        require(
            self,
            "total_timesteps",
            self.num_updates(spec) >= 1,
            f"must be >= num_envs * (num_steps + episode limit) = {self.steps_per_update(spec)} "
            "(one update)",
        )
        require(self, "hidden_sizes", all(h >= 1 for h in self.hidden_sizes), "widths must be >= 1")
        require_finite_in(self, "lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "gamma", 0.0, 1.0)
        require_finite_in(self, "vf_coef", 0.0, math.inf)
        require_finite_in(self, "baseline_decay", 0.0, 1.0)
        require_finite_in(self, "max_grad_norm", 0.0, math.inf, open_low=True)
        return spec


Config = ReinforceConfig
ReinforceHParams = hparams_type(ReinforceConfig)
"""`hp`: ReinforceConfig's traced fields as float32 arrays (`hp.<field>`), scalars in one run."""


@struct.dataclass
class ReinforceState:
    params: Any
    opt_state: Any
    baseline: jax.Array  # () running mean of the weights (--baseline mean)
    key: jax.Array


def score_function_loss(log_prob, weight, mask, num_episodes) -> jax.Array:
    """Surrogate whose gradient is the REINFORCE estimate (Williams 1992; Sutton and Barto 2018,
    section 13.3): -(1 / episodes) sum_t mask_t psi_t log pi(a_t | s_t), psi held fixed.

    Args:
        log_prob, weight, mask: shape (T, N); mask is 1 on steps of episodes that ended inside
            the rollout. num_episodes: () how many did.
    """
    weighted = mask * jax.lax.stop_gradient(weight) * log_prob
    return -weighted.sum() / jnp.maximum(num_episodes, 1)


def masked_scale(x, mask) -> jax.Array:
    """x / sqrt(mean(x^2)) over the entries where mask is 1: unit scale, no centring (centring
    would act as a baseline of its own), and finite even when every x is the same."""
    count = jnp.maximum(mask.sum(), 1)
    return x / (jnp.sqrt((jnp.square(x) * mask).sum() / count) + 1e-8)


def make_gradient_estimator(
    config: ReinforceConfig, spec: envs.EnvSpec | None = None, env=None, network=None
):
    """`estimate(params, baseline, key, hp) -> (grads, metrics)`: one REINFORCE gradient.

    Plays one window (every env from a fresh reset, `num_steps` steps) with the policy `params`
    and returns the gradient of the loss (policy surrogate, plus the value regression with
    --baseline value) over the complete episodes. `baseline` is the running mean (--baseline
    mean). The learner calls it once per update; the variance benchmark calls it many times at
    fixed parameters. `env` and `network` are built from `spec` unless given (the learner
    passes its own).
    """
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, config.num_envs) if env is None else env
    network = make_actor_critic(config, spec) if network is None else network
    steps_per_env, start_window = config.steps_per_env(spec), config.start_window(spec)
    returns = reward_to_go if config.returns == "reward_to_go" else episode_return

    def loss_fn(params, traj, target, discount, mask, num_episodes, baseline, hp):
        dist, value = network.apply(params, traj.obs)  # (T, N)
        if config.baseline == "value":
            weight = target - value
        elif config.baseline == "mean":
            weight = target - baseline
        else:
            weight = target
        weight = discount * weight  # gamma^k with --discount-weights, else 1
        if config.normalize:
            weight = masked_scale(weight, mask)
        policy_loss = score_function_loss(dist.log_prob(traj.action), weight, mask, num_episodes)
        metrics = {"policy_loss": policy_loss}
        total = policy_loss
        if config.baseline == "value":  # V(s_t) regresses on the same returns psi is built from
            value_loss = (mask * jnp.square(value - target)).sum() / jnp.maximum(mask.sum(), 1)
            total = total + hp.vf_coef * value_loss
            metrics["value_loss"] = value_loss
        return total, {"loss": total, **metrics}

    def estimate(params, baseline, key: jax.Array, hp: ReinforceHParams):
        key, reset_key = jax.random.split(key)
        obs, env_state = env.reset(reset_key)  # every window starts at episode starts
        _, _, _, traj = collect(
            env, network, params, env_state, obs, key, steps_per_env
        )  # fields (T, N, ...)
        target = returns(traj.reward, traj.done, hp.gamma)  # (T, N)
        discount = 1.0
        if config.discount_weights:
            discount = hp.gamma ** steps_since_episode_start(traj.done)  # (T, N)
        kept = episodes_started_before(traj.done, start_window)
        kept = kept & complete_episode_mask(traj.done)  # always true given the rollout length
        mask = kept.astype(jnp.float32)
        num_episodes = (traj.done & kept).sum()
        grads, metrics = jax.grad(loss_fn, has_aux=True)(
            params, traj, target, discount, mask, num_episodes, baseline, hp
        )
        info = {**traj.info, "returned_episode": traj.info["returned_episode"] & kept}
        metrics = {
            **episode_metrics(info),  # the kept episodes only, so unbiased too
            **metrics,
            "transitions": mask.sum().astype(jnp.int32),
            "mean_target": (target * mask).sum() / jnp.maximum(mask.sum(), 1),
        }
        return grads, metrics

    return estimate


def make_learner(config: ReinforceConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds REINFORCE's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, config.num_envs)
    network = make_actor_critic(config, spec)
    estimate = make_gradient_estimator(config, spec, env, network)
    num_updates = config.num_updates(spec)

    def optimizer(hp: ReinforceHParams) -> optax.GradientTransformation:
        lr = hp.lr
        if config.anneal_lr:
            lr = optax.linear_schedule(hp.lr, 0.0, num_updates)
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(lr))

    def init(key: jax.Array, hp: ReinforceHParams) -> ReinforceState:
        key, net_key, env_key = jax.random.split(key, 3)
        obs, _ = env.reset(env_key)
        params = network.init(net_key, obs)
        return ReinforceState(params, optimizer(hp).init(params), jnp.float32(0.0), key)

    def update(state: ReinforceState, hp: ReinforceHParams) -> tuple[ReinforceState, Metrics]:
        key, window_key = jax.random.split(state.key)
        grads, metrics = estimate(state.params, state.baseline, window_key, hp)
        updates, opt_state = optimizer(hp).update(grads, state.opt_state, state.params)
        decay = hp.baseline_decay
        baseline = decay * state.baseline + (1.0 - decay) * metrics.pop("mean_target")
        state = ReinforceState(optax.apply_updates(state.params, updates), opt_state, baseline, key)
        return state, {**metrics, "baseline": baseline}

    def export(state: ReinforceState) -> dict:
        return {"params": state.params, "obs_stats": None}

    return Learner(init, update, export, num_updates, config.steps_per_update(spec))


def make_train(config: ReinforceConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: ReinforceConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: the deterministic (mode) policy of a checkpoint."""
    return make_actor_critic_policy(config, spec)


make_sampling_policy = make_actor_critic_sampler
"""`act(exported, obs, key) -> action`: a sample of the policy (`collect --mode stochastic`)."""

if __name__ == "__main__":
    from purejaxrl.cli import main

    main("reinforce")
