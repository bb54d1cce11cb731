"""PQN: parallel Q-learning with LayerNorm and Q(lambda), no replay buffer and no target network,
on any discrete-action gymnax env; results in runs/<env>/pqn/.

    python -m purejaxrl.pqn --env-id CartPole-v1 --num-seeds 8
    python -m purejaxrl.pqn --q-lambda 0 0.65 0.95 --num-seeds 8   # 3 x 8 runs, one compiled call
    python -m purejaxrl.pqn --no-layer-norm                         # the paper's ablation
    python -m purejaxrl.pqn --env-id Pong-v5                        # Atari through envpool: CNN

Defaults are those of the paper's reference implementation (purejaxql) on CartPole, but for
epsilon_end and num_epochs (see their docstrings). On an Atari id they are purejaxql's Atari
settings, scaled to a 1e7-step budget on a CPU (`PQNConfig.suite_defaults`).

One update (one row of metrics) is `num_envs * num_steps` env steps: every env takes `num_steps`
epsilon-greedy steps with the current Q-network, the Q(lambda) targets of the rollout are computed
once, then `num_epochs` passes over the rollout's transitions, each shuffled into
`num_minibatches` minibatches, regress Q(s, a) on the fixed targets.

Reading map, top to bottom:
  PQNConfig       static fields (shapes, loop counts) and traced ones (`hp.lr`, `hp.q_lambda`, ...)
  Batch, PQNState  what the loss sees; the learner state of one run
  PQNNetwork      the Q-network: Dense -> LayerNorm -> ReLU layers, or an Atari CNN + LayerNorm
  pqn_loss        half the squared error of Q(s, a) against the Q(lambda) target, valid steps only
  make_learner    init: reset envs, init network and optimiser; update: epsilon-greedy rollout,
                  targets (`returns.q_lambda_returns`), epochs x minibatches of gradient steps
  make_train      the whole run as one pure function of (key, hp)
Epsilon-greedy and its schedule are in `exploration.py`, the Atari CNN torso in `networks.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxrl import envs
from purejaxrl.checks import (
    require,
    require_box_observations,
    require_finite_in,
    require_torso,
)
from purejaxrl.config import BaseConfig
from purejaxrl.exploration import epsilon_greedy, linear_epsilon
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import (
    Learner,
    Metrics,
    episode_info,
    episode_metrics,
    learner_inputs,
    scan_updates,
)
from purejaxrl.networks import ACTIVATIONS, ActivationName, AtariCNN, TorsoName, resolve_torso
from purejaxrl.returns import q_lambda_returns


@dataclass(frozen=True)
class PQNConfig(BaseConfig):
    """Parallelised Q-Network (Gallici et al. 2024, "Simplifying Deep Temporal Difference Learning")."""

    env_id: str = "CartPole-v1"
    """Environment id (a gymnax id with a discrete action space and vector observations, or an
    Atari id)."""
    total_timesteps: int = 500_000
    """Environment steps per run (summed over parallel envs)."""
    num_envs: int = 32
    """Parallel environments per run; they replace the replay buffer as the source of
    decorrelated data."""
    num_steps: int = 64
    """Steps per environment in each rollout; an update learns from num_envs * num_steps
    transitions."""
    num_epochs: int = 2
    """Passes over each rollout. purejaxql's CartPole setting is 4 (2 on MinAtar and Atari); with
    epsilon_end 0.05, 4 epochs let some CartPole runs collapse late after reaching 500 (8-seed
    final returns 428 and 497 on two tries), 2 did not (500.0, and 497.4 on seeds 8-15)."""
    num_minibatches: int = 16
    """Minibatches per pass; must divide num_envs * num_steps."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    optimizer: Literal["radam", "adam"] = "radam"
    """RAdam (Liu et al. 2020), as the reference implementation, or Adam; both after global-norm
    clipping."""
    layer_norm: bool = True
    """LayerNorm before every hidden activation (after the CNN torso's features on Atari): what
    keeps TD learning stable without a target network (the paper's key ingredient)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden layer widths of the Q-network (vector observations)."""
    activation: ActivationName = "relu"
    """Hidden activation."""
    torso: TorsoName = "auto"
    """Network body: auto (the Nature CNN for image observations, else an MLP), mlp, nature_cnn or
    small_cnn (the 2013 DQN network)."""
    lr: float = traced(1e-4)
    """Learning rate."""
    gamma: float = traced(0.99)
    """Discount factor."""
    q_lambda: float = traced(0.95)
    """Q(lambda) trace parameter in [0, 1]: 0 gives one-step Q-learning targets."""
    epsilon_start: float = traced(1.0)
    """Exploration probability at the start, in [0, 1]."""
    epsilon_end: float = traced(0.05)
    """Exploration probability after the decay, in [0, epsilon_start]. purejaxql's CartPole setting
    is 0.2 (it reports greedy test episodes), but the returns reported here are those of the
    epsilon-greedy training episodes: at 0.2 they stay near 460 on CartPole-v1 (8 seeds, 5e5
    steps, 4 epochs)."""
    epsilon_decay: float = traced(0.2)
    """Fraction of the run, in (0, 1], over which epsilon decays linearly from epsilon_start to
    epsilon_end (epsilon is held constant within an update)."""
    max_grad_norm: float = traced(10.0)
    """Global gradient-norm clip."""
    reward_scale: float = traced(0.1)
    """Rewards are multiplied by this in the targets (Q-values are in scaled units); the reported
    episode returns are unscaled."""

    suite_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # purejaxql's pqn_atari settings (128 envs x 32 steps, 2 epochs of 32 minibatches of 128,
        # lr 2.5e-4 not decayed, epsilon 1 -> 0.001 over the first 10%, lambda 0.65, 5e7 steps)
        # scaled to a 1e7-step budget on a CPU: 16 envpool games instead of 128, which 2 cores can
        # step, with 4 minibatches so that each stays 128 transitions and each transition is
        # still seen twice (num_epochs); the updates are then 8x more frequent and each rollout
        # less diverse than the paper's. Rewards are envpool's clipped ones, unscaled.
        "atari": {
            "total_timesteps": 10_000_000,
            "num_envs": 16,
            "num_steps": 32,
            "num_epochs": 2,
            "num_minibatches": 4,
            "anneal_lr": False,
            "lr": 2.5e-4,
            "q_lambda": 0.65,
            "epsilon_end": 0.001,
            "epsilon_decay": 0.1,
            "reward_scale": 1.0,
        }
    }
    suite_run_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "atari": {"chunk_updates": 16, "checkpoint_every": 400},
    }
    supports_image_observations: ClassVar[bool] = True

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require(
            self,
            "env_id",
            spec.discrete_actions,
            f"PQN needs a discrete action space, this env's is {type(spec.action_space).__name__} "
            "(use ddpg or ppo for continuous actions)",
        )
        for name in ("num_envs", "num_steps", "num_epochs", "num_minibatches"):
            require(self, name, getattr(self, name) >= 1, "must be >= 1")
        require(
            self,
            "num_minibatches",
            self.batch_size % self.num_minibatches == 0,
            f"must divide num_envs * num_steps = {self.batch_size}",
        )
        require(
            self,
            "total_timesteps",
            self.num_updates >= 1,
            f"must be >= num_envs * num_steps = {self.batch_size} (one update)",
        )
        require(self, "hidden_sizes", all(h >= 1 for h in self.hidden_sizes), "widths must be >= 1")
        require_box_observations(self, spec)
        require_torso(self, spec)
        require_finite_in(self, "lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "gamma", 0.0, 1.0)
        require_finite_in(self, "q_lambda", 0.0, 1.0)
        require_finite_in(self, "epsilon_start", 0.0, 1.0)
        require_finite_in(self, "epsilon_end", 0.0, self.epsilon_start)
        require_finite_in(self, "epsilon_decay", 0.0, 1.0, open_low=True)
        require_finite_in(self, "max_grad_norm", 0.0, math.inf, open_low=True)
        require_finite_in(self, "reward_scale", 0.0, math.inf, open_low=True)
        return spec


Config = PQNConfig
PQNHParams = hparams_type(PQNConfig)
"""`hp`: PQNConfig's traced fields as float32 arrays (`hp.<field>`), scalars in one run."""


class Batch(NamedTuple):
    """What the loss sees, flattened over (T, N) and shuffled."""

    obs: jax.Array  # (B, *obs_shape)
    action: jax.Array  # (B,) int32
    target: jax.Array  # (B,) Q(lambda) return, computed once per update before the epochs
    valid: jax.Array  # (B,) false for envpool's dummy reset steps, which carry no weight


@struct.dataclass
class PQNState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array  # (N, *obs_shape) current observation of every env
    timesteps: jax.Array  # () int32 env steps taken, all envs together
    key: jax.Array


class PQNNetwork(nn.Module):
    """Q(s, .) of a discrete action space, normalised as in Gallici et al. 2024 (section 4).

    Vector observations: hidden layers Dense -> LayerNorm -> activation, then a linear head.
    Stacked frames (`torso` "nature_cnn" or "small_cnn"): the `AtariCNN` torso of the DQN papers,
    LayerNorm on its features, then the head (the reference normalises after every convolution
    too; here the shared torso is kept as it is). Flax's default initialisation, as the reference.
    Returns shape (..., action_dim).
    """

    action_dim: int
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"
    layer_norm: bool = True
    torso: str = "mlp"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        if self.torso != "mlp":
            x = AtariCNN(self.torso)(obs)
            x = nn.LayerNorm()(x) if self.layer_norm else x
        else:
            x = obs
            for size in self.hidden_sizes:
                x = nn.Dense(size)(x)
                x = nn.LayerNorm()(x) if self.layer_norm else x
                x = ACTIVATIONS[self.activation](x)
        return nn.Dense(self.action_dim)(x)


def pqn_loss(network: PQNNetwork, params, batch: Batch) -> tuple[jax.Array, Metrics]:
    """0.5 E[(Q(s, a) - G^lambda)^2] over the valid steps of a minibatch, the target held fixed
    (Gallici et al. 2024, Algorithm 1: the regression on StopGrad of the Q(lambda) return)."""
    q = network.apply(params, batch.obs)  # (B, A)
    q_taken = jnp.take_along_axis(q, batch.action[:, None].astype(jnp.int32), axis=-1)[:, 0]
    error = q_taken - jax.lax.stop_gradient(batch.target)
    weight = batch.valid.astype(jnp.float32)
    count = jnp.maximum(weight.sum(), 1.0)
    loss = 0.5 * jnp.sum(weight * jnp.square(error)) / count
    return loss, {"loss": loss, "q_mean": jnp.sum(weight * q_taken) / count}


def make_network(config: PQNConfig, spec: envs.EnvSpec) -> PQNNetwork:
    """The Q-network for `config` on `spec`'s observations (`torso="auto"` resolved from them)."""
    torso = resolve_torso(config.torso, spec.observation_space)
    return PQNNetwork(
        spec.num_actions, config.hidden_sizes, config.activation, config.layer_norm, torso
    )


def make_learner(config: PQNConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds PQN's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, config.num_envs)
    network = make_network(config, spec)
    act = jax.vmap(epsilon_greedy, in_axes=(0, 0, None))
    steps_per_lr_step = config.num_epochs * config.num_minibatches
    run_steps = config.num_updates * config.batch_size

    def optimizer(hp: PQNHParams) -> optax.GradientTransformation:
        if config.anneal_lr:
            # constant within an update, linear to 0 over the updates (as ppo.py)
            def lr(count):
                return hp.lr * (1.0 - (count // steps_per_lr_step) / config.num_updates)
        else:
            lr = hp.lr
        step = optax.radam(lr) if config.optimizer == "radam" else optax.adam(lr)
        return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), step)

    def epsilon(hp: PQNHParams, timesteps: jax.Array) -> jax.Array:
        return linear_epsilon(
            hp.epsilon_start, hp.epsilon_end, hp.epsilon_decay * run_steps, timesteps
        )

    def init(key: jax.Array, hp: PQNHParams) -> PQNState:
        key, net_key, env_key = jax.random.split(key, 3)
        obs, env_state = env.reset(env_key)
        params = network.init(net_key, obs)
        opt_state = optimizer(hp).init(params)
        return PQNState(params, opt_state, env_state, obs, jnp.int32(0), key)

    def update(state: PQNState, hp: PQNHParams) -> tuple[PQNState, Metrics]:
        eps = epsilon(hp, state.timesteps)

        def env_step(carry, _):
            env_state, obs, key = carry
            key, act_key, env_key = jax.random.split(key, 3)
            q = network.apply(state.params, obs)  # (N, A)
            action = act(jax.random.split(act_key, config.num_envs), q, eps)
            next_obs, env_state, reward, terminated, truncated, info = env.step(
                env_key, env_state, action
            )
            step = {
                "obs": obs,
                "action": action,
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "next_obs": info["final_observation"],  # the true next state, before auto-reset
                "valid": info.get("valid", jnp.ones_like(terminated)),
                "info": episode_info(info),
            }
            return (env_state, next_obs, key), step

        (env_state, obs, key), traj = jax.lax.scan(
            env_step, (state.env_state, state.obs, state.key), None, config.num_steps
        )  # traj leaves: (T, N, ...)
        q_next_max = network.apply(state.params, traj["next_obs"]).max(-1)  # (T, N)
        target = q_lambda_returns(
            hp.reward_scale * traj["reward"], q_next_max, traj["terminated"], traj["truncated"],
            hp.gamma, hp.q_lambda,
        )  # fmt: skip
        batch = Batch(traj["obs"], traj["action"], target, traj["valid"])
        batch = jax.tree.map(lambda x: x.reshape((config.batch_size, *x.shape[2:])), batch)
        tx = optimizer(hp)
        grad_fn = jax.grad(pqn_loss, argnums=1, has_aux=True)

        def minibatch_step(carry, minibatch: Batch):
            params, opt_state = carry
            grads, metrics = grad_fn(network, params, minibatch)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), metrics

        def epoch(carry, key):
            order = jax.random.permutation(key, config.batch_size)
            minibatches = jax.tree.map(
                lambda x: x[order].reshape((config.num_minibatches, -1, *x.shape[1:])), batch
            )
            return jax.lax.scan(minibatch_step, carry, minibatches)

        key, *epoch_keys = jax.random.split(key, config.num_epochs + 1)
        (params, opt_state), metrics = jax.lax.scan(
            epoch, (state.params, state.opt_state), jnp.stack(epoch_keys)
        )
        state = PQNState(
            params, opt_state, env_state, obs, state.timesteps + config.batch_size, key
        )
        return state, {
            **episode_metrics(traj["info"]),
            **jax.tree.map(jnp.mean, metrics),
            "epsilon": eps,
        }

    def export(state: PQNState) -> dict:
        return {"params": state.params}

    return Learner(init, update, export, config.num_updates, config.batch_size)


def make_train(config: PQNConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: PQNConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: greedy in the learned Q-values."""
    network = make_network(config, config.env_spec() if spec is None else spec)

    def act(exported: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        return jnp.argmax(network.apply(exported["params"], obs), axis=-1)

    return act


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("pqn")
