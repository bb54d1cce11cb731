"""A2C: synchronous advantage actor-critic with n-step returns or GAE; results in runs/<env>/a2c/.

    python -m purejaxrl.a2c --env-id CartPole-v1 --num-seeds 8
    python -m purejaxrl.a2c --advantage gae --gae-lambda 0.95 --shared-torso
    python -m purejaxrl.a2c --lr 3e-4 7e-4 2e-3 --num-seeds 8     # 3 x 8 runs, one compiled call

Each update collects `num_steps` steps from each of `num_envs` envs and takes one gradient step on
policy gradient + value regression - entropy bonus. Defaults are the RL Baselines3 Zoo settings for
CartPole-v1 (8 envs x 5 steps, RMSprop lr 7e-4, no entropy bonus).

Reading map, top to bottom:
  A2CConfig          static fields and traced ones (`hp.lr`, `hp.gamma`, ...)
  A2CState           the learner state of one run
  actor_critic_loss  policy gradient + value regression - entropy bonus
  make_learner       update: a rollout (`rollout.collect`), n-step or GAE advantages
                     (`returns.generalized_advantage_estimation`), one gradient step
  make_train         the whole run as one pure function of (key, hp)
The actor-critic network is in `networks.py`, shared with PPO and REINFORCE.
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
from purejaxrl.hparams import StaticView, hparams_type, traced
from purejaxrl.learner import Learner, Metrics, episode_metrics, learner_inputs, scan_updates
from purejaxrl.networks import (
    ActivationName,
    make_actor_critic,
    make_actor_critic_policy,
    make_actor_critic_sampler,
)
from purejaxrl.returns import generalized_advantage_estimation
from purejaxrl.rollout import collect


@dataclass(frozen=True)
class A2CConfig(BaseConfig):
    """Advantage actor-critic, the synchronous form of A3C (Mnih et al. 2016)."""

    env_id: str = "CartPole-v1"
    """Environment id (any gymnax id; discrete or continuous actions)."""
    total_timesteps: int = 500_000
    """Environment steps per run (summed over parallel envs)."""
    num_envs: int = 8
    """Parallel environments per run."""
    num_steps: int = 5
    """Steps per env in each rollout; one gradient step per rollout."""
    advantage: Literal["nstep", "gae"] = "nstep"
    """n-step returns (each step bootstraps from the value after the rollout's last step, A3C's
    estimator) or GAE(gamma, gae_lambda)."""
    shared_torso: bool = False
    """One MLP torso under both heads instead of separate policy and value MLPs."""
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    """RMSprop (decay 0.99, eps 1e-5 added outside the square root, as in PyTorch and
    Stable-Baselines3) or Adam."""
    normalize_advantages: bool = False
    """Standardise advantages within each batch."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy and of the value network."""
    activation: ActivationName = "tanh"
    """Hidden activation."""
    lr: float = traced(7e-4)
    """Learning rate."""
    gamma: float = traced(0.99)
    """Discount factor."""
    gae_lambda: float = traced(0.95)
    """GAE lambda (--advantage gae)."""
    ent_coef: float = traced(0.0)
    """Entropy bonus coefficient."""
    vf_coef: float = traced(0.5)
    """Value loss coefficient."""
    max_grad_norm: float = traced(0.5)
    """Global gradient-norm clip."""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        for name in ("num_envs", "num_steps"):
            require(self, name, getattr(self, name) >= 1, "must be >= 1")
        require(
            self,
            "total_timesteps",
            self.num_updates >= 1,
            f"must be >= num_envs * num_steps = {self.batch_size} (one update)",
        )
        require(self, "hidden_sizes", all(h >= 1 for h in self.hidden_sizes), "widths must be >= 1")
        require_box_observations(self, spec)
        require_finite_in(self, "lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "gamma", 0.0, 1.0)
        require_finite_in(self, "gae_lambda", 0.0, 1.0)
        require_finite_in(self, "ent_coef", 0.0, math.inf)
        require_finite_in(self, "vf_coef", 0.0, math.inf)
        require_finite_in(self, "max_grad_norm", 0.0, math.inf, open_low=True)
        return spec


Config = A2CConfig
A2CHParams = hparams_type(A2CConfig)
"""`hp`: A2CConfig's traced fields as float32 arrays (`hp.<field>`), scalars in one run."""


@struct.dataclass
class A2CState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array  # (N, *obs_shape) current observation of every env
    key: jax.Array


def actor_critic_loss(network, params, traj, advantage, target, hp: A2CHParams, config: StaticView):
    """-E[log pi(a|s) A] + vf_coef E[(V(s) - R)^2] - ent_coef E[H(pi(.|s))]   (Mnih et al. 2016,
    Algorithm S3), advantages and returns held fixed.

    Args:
        traj: a rollout with fields (T, N, ...). advantage, target: (T, N).
    """
    dist, value = network.apply(params, traj.obs)
    if config.normalize_advantages:
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
    policy_loss = -(dist.log_prob(traj.action) * jax.lax.stop_gradient(advantage)).mean()
    value_loss = jnp.square(value - jax.lax.stop_gradient(target)).mean()
    entropy = dist.entropy().mean()
    total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
    return total, {
        "loss": total,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
    }


def make_learner(config: A2CConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds A2C's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, config.num_envs)
    network = make_actor_critic(config, spec)

    def optimizer(hp: A2CHParams) -> optax.GradientTransformation:
        if config.optimizer == "rmsprop":
            step = optax.rmsprop(hp.lr, decay=0.99, eps=1e-5, eps_in_sqrt=False)
        else:
            step = optax.adam(hp.lr)
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), step)

    def init(key: jax.Array, hp: A2CHParams) -> A2CState:
        key, net_key, env_key = jax.random.split(key, 3)
        obs, env_state = env.reset(env_key)
        params = network.init(net_key, obs)
        return A2CState(params, optimizer(hp).init(params), env_state, obs, key)

    def update(state: A2CState, hp: A2CHParams) -> tuple[A2CState, Metrics]:
        env_state, obs, key, traj = collect(
            env, network, state.params, state.env_state, state.obs, state.key, config.num_steps
        )  # fields (T, N, ...)
        _, next_value = network.apply(state.params, traj.next_obs)  # (T, N)
        lambda_ = 1.0 if config.advantage == "nstep" else hp.gae_lambda
        advantage, target = generalized_advantage_estimation(
            traj.reward, traj.value, next_value, traj.terminated, traj.done, hp.gamma, lambda_
        )
        grads, metrics = jax.grad(actor_critic_loss, argnums=1, has_aux=True)(
            network, state.params, traj, advantage, target, hp, config
        )
        updates, opt_state = optimizer(hp).update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return A2CState(params, opt_state, env_state, obs, key), {
            **episode_metrics(traj.info),
            **metrics,
        }

    def export(state: A2CState) -> dict:
        return {"params": state.params, "obs_stats": None}

    return Learner(init, update, export, config.num_updates, config.batch_size)


def make_train(config: A2CConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: A2CConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: the deterministic (mode) policy of a checkpoint."""
    return make_actor_critic_policy(config, spec)


make_sampling_policy = make_actor_critic_sampler
"""`act(exported, obs, key) -> action`: a sample of the policy (`collect --mode stochastic`)."""

if __name__ == "__main__":
    from purejaxrl.cli import main

    main("a2c")
