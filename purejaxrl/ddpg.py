"""DDPG, with TD3's three changes as options, on continuous-action gymnax envs; results in runs/<env>/ddpg/.

    python -m purejaxrl.ddpg --env-id Pendulum-v1 --num-seeds 8
    python -m purejaxrl.ddpg --td3 --num-seeds 8                       # TD3
    python -m purejaxrl.ddpg --tau 0.001 0.005 0.02 --num-seeds 8      # 3 x 8 runs, one compiled call
    python -m purejaxrl.ddpg --env-id MountainCarContinuous-v0 --noise ou --total-timesteps 200000

The actor and the critic work in normalised actions a in [-1, 1]^d; the env receives
low + (a + 1) (high - low) / 2. The loop is `offpolicy.py`'s: one update (one row of metrics) is
`steps_per_update` env steps, made of training phases; each phase steps every env
`train_frequency / num_envs` times (uniformly random actions until `learning_starts`, then mu(s)
plus exploration noise), adds the transitions to the replay buffer, and takes `gradient_steps`
gradient steps once more than `learning_starts` env steps were taken.

Reading map, top to bottom:
  DDPGConfig      static fields (TD3 switches, schedule) and traced ones (`hp.actor_lr`, `hp.tau`, ...)
  DDPGParams, DDPGState   actor and critic(s) parameters; the learner state of one run
  to_env_action, smoothed_target_action, ou_step   action scaling and the two kinds of noise
  critic_loss, actor_loss   the TD regression and the deterministic policy gradient
  make_learner    DDPG's part of the off-policy loop (`offpolicy.make_update`): explore, and a
                  gradient_step (critic, then the actor and the soft target update every
                  actor_delay steps)
  make_train      the whole run as one pure function of (key, hp)
The networks are in `networks.py`, the replay buffer in `replay.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxrl import envs
from purejaxrl.checks import require, require_box_observations, require_finite_in
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import Learner, Metrics, learner_inputs, scan_updates
from purejaxrl.networks import (
    ActivationName,
    Critic,
    DeterministicActor,
    soft_update,
    to_env_action,
)
from purejaxrl.offpolicy import (
    OffPolicyAgent,
    OffPolicyConfig,
    example_transition,
    make_update,
    require_bounded_box_actions,
    uniform_actions,
)
from purejaxrl.replay import BufferState, ReplayBuffer, Transition


@dataclass(frozen=True)
class DDPGConfig(OffPolicyConfig):
    """Deep Deterministic Policy Gradient (Lillicrap et al. 2016), with TD3 (Fujimoto et al. 2018).

    The defaults are sized for a CPU: 64x64 networks and one gradient step per 4 env steps reach
    about -157 on Pendulum-v1 in 5e4 steps, 8 seeds in about 20 s on 2 cores. The papers' setting
    (400x300 or 256x256, --train-frequency 1) learns in fewer env steps at many times the compute.
    The replay schedule fields (num_envs ... steps_per_update) are documented on `OffPolicyConfig`.
    """

    env_id: str = "Pendulum-v1"
    """Environment id (a gymnax id with a continuous (Box) action space)."""
    total_timesteps: int = 50_000
    """Environment steps per run (summed over parallel envs)."""
    num_envs: int = 1
    buffer_size: int = 100_000
    batch_size: int = 256
    learning_starts: int = 5_000
    train_frequency: int = 4
    steps_per_update: int = 1_000
    noise: Literal["gaussian", "ou"] = "gaussian"
    """Exploration noise added to mu(s): independent Gaussian, or Ornstein-Uhlenbeck (temporally
    correlated, as in the DDPG paper), reset at each episode's start."""
    twin_critics: bool = False
    """TD3: two critics; the target uses the smaller of their two values."""
    smooth_target: bool = False
    """TD3: target policy smoothing, clipped Gaussian noise on the target action."""
    delay_actor: bool = False
    """TD3: update the actor and the target networks once every policy_delay critic updates."""
    td3: bool = False
    """Turn on all three TD3 options."""
    policy_delay: int = 2
    """Critic updates per actor update when the actor is delayed."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of each critic."""
    activation: ActivationName = "relu"
    """Hidden activation."""
    actor_lr: float = traced(1e-3)
    """Adam learning rate of the actor."""
    critic_lr: float = traced(1e-3)
    """Adam learning rate of the critic(s)."""
    gamma: float = traced(0.98)
    """Discount factor."""
    tau: float = traced(0.005)
    """Soft target update rate theta' <- tau theta + (1 - tau) theta', in (0, 1]."""
    exploration_noise: float = traced(0.1)
    """Scale of the exploration noise in normalised action units (1 = half the range): the
    Gaussian's standard deviation, or the OU process's per-step sigma (its stationary standard
    deviation is sigma / sqrt(theta (2 - theta)), about 1.9 sigma at theta 0.15)."""
    target_noise: float = traced(0.2)
    """Standard deviation of the target policy smoothing noise, normalised units."""
    target_noise_clip: float = traced(0.5)
    """The smoothing noise is clipped to [-target_noise_clip, target_noise_clip]."""
    ou_theta: float = traced(0.15)
    """Ornstein-Uhlenbeck mean reversion per step, in (0, 1]."""

    suite_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # CleanRL's td3_continuous_action and ddpg_continuous_action (their MuJoCo v4 settings):
        # 256x256 networks, Adam 3e-4, a 1e6 replay, 25k random steps, one gradient step per env
        # step; noise, tau, batch and policy delay equal the defaults above. TD3: add --td3.
        "mujoco": {
            "total_timesteps": 1_000_000,
            "buffer_size": 1_000_000,
            "learning_starts": 25_000,
            "train_frequency": 1,
            "hidden_sizes": (256, 256),
            "actor_lr": 3e-4,
            "critic_lr": 3e-4,
            "gamma": 0.99,
        },
    }

    @property
    def uses_twin_critics(self) -> bool:
        return self.twin_critics or self.td3

    @property
    def uses_smooth_target(self) -> bool:
        return self.smooth_target or self.td3

    @property
    def actor_delay(self) -> int:
        return self.policy_delay if (self.delay_actor or self.td3) else 1

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require(self, "policy_delay", self.policy_delay >= 1, "must be >= 1")
        require(self, "hidden_sizes", all(h >= 1 for h in self.hidden_sizes), "widths must be >= 1")
        space = spec.action_space
        require(
            self,
            "env_id",
            not spec.discrete_actions,
            f"DDPG needs a continuous (Box) action space, this env's is {type(space).__name__} "
            "(use dqn or ppo for discrete actions)",
        )
        require_bounded_box_actions(
            self, spec, "DDPG needs a one-dimensional action Box with finite bounds"
        )
        require_box_observations(self, spec)
        require_finite_in(self, "actor_lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "critic_lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "gamma", 0.0, 1.0)
        require_finite_in(self, "tau", 0.0, 1.0, open_low=True)
        require_finite_in(self, "exploration_noise", 0.0, math.inf)
        require_finite_in(self, "target_noise", 0.0, math.inf)
        require_finite_in(self, "target_noise_clip", 0.0, math.inf)
        require_finite_in(self, "ou_theta", 0.0, 1.0, open_low=True)
        return spec


Config = DDPGConfig
DDPGHParams = hparams_type(DDPGConfig)
"""`hp`: DDPGConfig's traced fields as float32 arrays (`hp.<field>`), scalars in one run."""


@struct.dataclass
class DDPGParams:
    """What DDPG / TD3 train: the actor and the critic(s)."""

    actor: Any
    critic: Any  # leaves with a leading (num_critics,) axis


@struct.dataclass
class DDPGState:
    params: DDPGParams
    target_params: DDPGParams
    actor_opt_state: Any
    critic_opt_state: Any
    buffer: BufferState  # transitions with normalised actions, leaves (buffer_size, ...)
    env_state: Any
    obs: jax.Array  # (N, *obs_shape) current observation of every env
    noise: jax.Array  # (N, action_dim) Ornstein-Uhlenbeck state (last sample for Gaussian noise)
    timesteps: jax.Array  # () int32 env steps taken, all envs together
    critic_updates: jax.Array  # () int32 gradient steps taken
    key: jax.Array


def smoothed_target_action(key, target_action, noise_std, noise_clip) -> jax.Array:
    """TD3's target policy smoothing (Fujimoto et al. 2018, eq. 14): mu'(s') + clip(eps, -c, c),
    eps ~ N(0, noise_std^2), clipped back into [-1, 1]."""
    eps = jnp.clip(noise_std * jax.random.normal(key, target_action.shape), -noise_clip, noise_clip)
    return jnp.clip(target_action + eps, -1.0, 1.0)


def ou_step(key, noise, theta, sigma) -> jax.Array:
    """One step of an Ornstein-Uhlenbeck process with mean 0 and unit time step:
    x <- x - theta x + sigma N(0, 1) (Uhlenbeck and Ornstein 1930, as used by Lillicrap et al.)."""
    return noise - theta * noise + sigma * jax.random.normal(key, noise.shape)


def make_networks(config: DDPGConfig, action_dim: int) -> tuple[DeterministicActor, Critic]:
    actor = DeterministicActor(action_dim, config.hidden_sizes, config.activation)
    return actor, Critic(config.hidden_sizes, config.activation)


def critic_loss(critic: Critic, critic_params, batch: Transition, target: jax.Array):
    """Mean over critics of the squared error to the fixed target y (Lillicrap et al. 2016, eq. 6).

    Args:
        critic_params: leaves with a leading (C,) axis. target: (B,) y, held fixed.
    """
    q = jax.vmap(critic.apply, in_axes=(0, None, None))(critic_params, batch.obs, batch.action)
    loss = jnp.square(q - jax.lax.stop_gradient(target)[None]).mean()  # q: (C, B)
    return loss, {"loss": loss, "q_mean": q[0].mean()}


def actor_loss(actor: DeterministicActor, critic: Critic, actor_params, critic_params, obs):
    """-E[Q_1(s, mu(s))], whose gradient is the deterministic policy gradient
    (Silver et al. 2014; Lillicrap et al. 2016, eq. 6). Only the first critic is used (TD3, too)."""
    first_critic = jax.tree.map(lambda x: x[0], critic_params)
    loss = -critic.apply(first_critic, obs, actor.apply(actor_params, obs)).mean()
    return loss, {"actor_loss": loss}


def make_learner(config: DDPGConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds DDPG's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, config.num_envs)
    space = spec.action_space
    action_dim = math.prod(space.shape)
    actor, critic = make_networks(config, action_dim)
    num_critics = 2 if config.uses_twin_critics else 1
    buffer = ReplayBuffer(config.buffer_size)
    critic_values = jax.vmap(critic.apply, in_axes=(0, None, None))  # (C, B)

    def optimizers(hp: DDPGHParams):
        return optax.adam(hp.actor_lr), optax.adam(hp.critic_lr)

    def init(key: jax.Array, hp: DDPGHParams) -> DDPGState:
        key, actor_key, critic_key, env_key = jax.random.split(key, 4)
        obs, env_state = env.reset(env_key)
        action = jnp.zeros((config.num_envs, action_dim))
        critic_keys = jax.random.split(critic_key, num_critics)
        params = DDPGParams(
            actor.init(actor_key, obs),
            jax.vmap(critic.init, in_axes=(0, None, None))(critic_keys, obs, action),
        )
        actor_tx, critic_tx = optimizers(hp)
        return DDPGState(
            params=params,
            target_params=params,
            actor_opt_state=actor_tx.init(params.actor),
            critic_opt_state=critic_tx.init(params.critic),
            buffer=buffer.init(example_transition(obs, action[0])),
            env_state=env_state,
            obs=obs,
            noise=jnp.zeros((config.num_envs, action_dim)),
            timesteps=jnp.int32(0),
            critic_updates=jnp.int32(0),
            key=key,
        )

    def explore(state: DDPGState, hp: DDPGHParams, key) -> tuple[DDPGState, jax.Array]:
        """Normalised actions (N, d): uniformly random until learning_starts env steps were
        taken, then mu(s) plus exploration noise (whose OU state the returned state keeps)."""
        random_key, noise_key = jax.random.split(key)
        mu = actor.apply(state.params.actor, state.obs)
        if config.noise == "ou":
            noise = ou_step(noise_key, state.noise, hp.ou_theta, hp.exploration_noise)
        else:
            noise = hp.exploration_noise * jax.random.normal(noise_key, mu.shape)
        policy = jnp.clip(mu + noise, -1.0, 1.0)
        uniform = uniform_actions(random_key, spec, config.num_envs)
        warming_up = state.timesteps < config.learning_starts
        return state.replace(noise=noise), jnp.where(warming_up, uniform, policy)

    def new_noise_path(state: DDPGState, done: jax.Array) -> DDPGState:
        """A new episode starts a new OU path."""
        return state.replace(noise=jnp.where(done[:, None], 0.0, state.noise))

    def gradient_step(state: DDPGState, hp: DDPGHParams, key) -> tuple[DDPGState, Metrics]:
        sample_key, smooth_key = jax.random.split(key)
        actor_tx, critic_tx = optimizers(hp)
        batch = buffer.sample(state.buffer, sample_key, config.batch_size)
        next_action = actor.apply(state.target_params.actor, batch.next_obs)
        if config.uses_smooth_target:
            next_action = smoothed_target_action(
                smooth_key, next_action, hp.target_noise, hp.target_noise_clip
            )
        next_q = critic_values(state.target_params.critic, batch.next_obs, next_action).min(0)
        terminated = batch.terminated.astype(jnp.float32)
        target = batch.reward + hp.gamma * (1.0 - terminated) * next_q
        grads, metrics = jax.grad(critic_loss, argnums=1, has_aux=True)(
            critic, state.params.critic, batch, target
        )
        updates, critic_opt_state = critic_tx.update(grads, state.critic_opt_state)
        params = state.params.replace(critic=optax.apply_updates(state.params.critic, updates))
        critic_updates = state.critic_updates + 1

        def update_actor(operand):
            params, actor_opt_state = operand
            grads, actor_metrics = jax.grad(actor_loss, argnums=2, has_aux=True)(
                actor, critic, params.actor, params.critic, batch.obs
            )
            updates, actor_opt_state = actor_tx.update(grads, actor_opt_state)
            params = params.replace(actor=optax.apply_updates(params.actor, updates))
            target_params = soft_update(state.target_params, params, hp.tau)
            return params, actor_opt_state, target_params, actor_metrics["actor_loss"]

        def keep_actor(operand):
            params, actor_opt_state = operand
            return params, actor_opt_state, state.target_params, jnp.float32(jnp.nan)

        params, actor_opt_state, target_params, actor_loss_value = jax.lax.cond(
            critic_updates % config.actor_delay == 0,
            update_actor,
            keep_actor,
            (params, state.actor_opt_state),
        )
        state = state.replace(
            params=params,
            target_params=target_params,
            actor_opt_state=actor_opt_state,
            critic_opt_state=critic_opt_state,
            critic_updates=critic_updates,
        )
        return state, {**metrics, "actor_loss": actor_loss_value}

    agent = OffPolicyAgent(
        act=explore,
        gradient_step=gradient_step,
        after_env_step=new_noise_path,
        # a delayed actor skips some gradient steps (NaN there); a NaN critic loss must show
        sparse_metrics=("actor_loss",),
    )
    update = make_update(config, env, buffer, spec, agent)

    def export(state: DDPGState) -> dict:
        return {"actor": state.params.actor, "critic": state.params.critic}

    return Learner(init, update, export, config.num_updates, config.steps_per_update)


def make_train(config: DDPGConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: DDPGConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: mu(s) in the env's units, no noise."""
    space = (config.env_spec() if spec is None else spec).action_space
    actor, _ = make_networks(config, math.prod(space.shape))

    def act(exported: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        action = to_env_action(actor.apply(exported["actor"], obs), space)
        return action.reshape((-1, *space.shape))

    return act


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("ddpg")
