"""DQN and Double DQN with a jnp replay buffer, on any discrete-action gymnax env; results in runs/<env>/dqn/.

    python -m purejaxrl.dqn --env-id CartPole-v1 --num-seeds 8
    python -m purejaxrl.dqn --double --tau 0.005 --target-update-interval 10
    python -m purejaxrl.dqn --lr 1e-4 2.5e-4 1e-3 --num-seeds 8     # 3 x 8 runs, one compiled call
    python -m purejaxrl.dqn --env-id Pong-v5                       # Atari through envpool: Nature CNN

Defaults are PureJaxRL's dqn.py CartPole settings, so the two can be compared run for run. On an
Atari id they are CleanRL's dqn_atari settings (`DQNConfig.suite_defaults`), which keep the 2015
paper's network, replay size, batch and update period but refresh the target more often, explore
less at the end, start learning later and use Adam at 1e-4. The paper's own values, in env steps
(one step is 4 frames), with Adam in place of RMSProp:

    python -m purejaxrl.dqn --env-id Pong-v5 --target-update-interval 40000 --epsilon-end 0.1 \
        --learning-starts 50000 --lr 2.5e-4

The loop is `offpolicy.py`'s: one update (one row of metrics) is `steps_per_update` env steps,
made of training phases; each phase steps every env `train_frequency / num_envs` times, adding
every transition to the buffer, then takes `gradient_steps` gradient steps on sampled minibatches
once more than `learning_starts` env steps were taken, and DQN then refreshes its target network
whenever the step count crossed a multiple of `target_update_interval`.

Reading map, top to bottom:
  DQNConfig       static fields and traced ones (`hp.lr`, `hp.gamma`, `hp.tau`, ...)
  DQNState        the learner state of one run (online and target parameters, buffer, envs)
  make_buffer     `replay.ReplayBuffer`, or for Atari `replay.FrameReplayBuffer` (frames kept once)
  dqn_target, double_dqn_target, dqn_loss   the regression targets and the loss
  make_network    the Q-network (`networks.QNetwork`: MLP, one-hot tabular input, or Atari CNN)
  make_learner    DQN's part of the off-policy loop (`offpolicy.make_update`): epsilon-greedy
                  actions, a gradient step on a sampled batch, the target refresh after a phase
  make_train      the whole run as one pure function of (key, hp)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxrl import envs
from purejaxrl.checks import require, require_finite_in, require_torso
from purejaxrl.exploration import epsilon_greedy, linear_epsilon
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import Learner, Metrics, learner_inputs, scan_updates
from purejaxrl.networks import ActivationName, QNetwork, TorsoName, resolve_torso, soft_update
from purejaxrl.offpolicy import OffPolicyAgent, OffPolicyConfig, example_transition, make_update
from purejaxrl.replay import (
    BufferState,
    FrameBufferState,
    FrameReplayBuffer,
    ReplayBuffer,
    Transition,
)


@dataclass(frozen=True)
class DQNConfig(OffPolicyConfig):
    """Deep Q-Network (Mnih et al. 2015), optionally Double DQN (van Hasselt et al. 2016).

    The replay schedule fields (num_envs ... steps_per_update) are documented on `OffPolicyConfig`.
    """

    env_id: str = "CartPole-v1"
    """Environment id (a gymnax id with a discrete action space)."""
    total_timesteps: int = 500_000
    """Environment steps per run (summed over parallel envs)."""
    num_envs: int = 10
    buffer_size: int = 10_000
    batch_size: int = 128
    learning_starts: int = 10_000
    train_frequency: int = 10
    steps_per_update: int = 5_000
    target_update_interval: int = 500
    """Env steps between target-network updates (theta' <- tau theta + (1 - tau) theta'); a
    multiple of train_frequency."""
    double: bool = False
    """Double DQN: the online network picks the bootstrap action, the target network values it."""
    loss: Literal["mse", "huber"] = "mse"
    """Regression loss on the TD error: squared (PureJaxRL) or Huber (the 2015 paper, with
    huber_delta 1 on rewards clipped to [-1, 1]: Atari). With unclipped rewards and a delta below
    the return scale, Huber diverges (CartPole: every seed at 9.6); validate warns."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over the run's gradient steps."""
    hidden_sizes: tuple[int, ...] = (120, 84)
    """Hidden layer widths of the Q-network."""
    activation: ActivationName = "relu"
    """Hidden activation."""
    torso: TorsoName = "auto"
    """Network body: auto (the Nature CNN for image observations, else an MLP), mlp, nature_cnn or
    small_cnn (the 2013 DQN network)."""
    lr: float = traced(2.5e-4)
    """Adam learning rate."""
    gamma: float = traced(0.99)
    """Discount factor."""
    tau: float = traced(1.0)
    """Target update rate in (0, 1]: 1 copies the online network (hard update), less is Polyak."""
    epsilon_start: float = traced(1.0)
    """Exploration probability at the start, in [0, 1]."""
    epsilon_end: float = traced(0.05)
    """Exploration probability after the decay, in [0, epsilon_start]."""
    epsilon_anneal_steps: float = traced(250_000.0)
    """Env steps over which epsilon decays linearly from epsilon_start to epsilon_end."""
    huber_delta: float = traced(1.0)
    """--loss huber: errors beyond delta get a gradient of constant size. 1 is the paper's, for
    clipped rewards; with unclipped ones, use about the return scale, max |r| / (1 - gamma)."""

    suite_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # CleanRL's dqn_atari settings, in env steps of 4 frames. Shared with Mnih et al. 2015
        # (Extended Data Table 1): the 1e6 replay (`FrameReplayBuffer` keeps each 84x84 frame
        # once, about 7.2 kB a transition, 7.2 GB in all; two 4x84x84 stacks per transition
        # would be 56 GB), batch 32, an update every 4 steps, Huber with delta 1 on clipped
        # rewards, epsilon annealed over 1e6 steps. CleanRL's, not the paper's: the target
        # refreshed every 1,000 env steps (paper: every 10,000 updates, 40,000 env steps),
        # epsilon down to 0.01 (paper: 0.1), learning from 80,000 steps (paper: 50,000), Adam at
        # 1e-4 (paper: RMSProp at 2.5e-4), 1e7 steps (paper: 5e7). The module docstring gives
        # the command line with the paper's values.
        "atari": {
            "total_timesteps": 10_000_000,
            "num_envs": 4,
            "buffer_size": 1_000_000,
            "batch_size": 32,
            "learning_starts": 80_000,
            "train_frequency": 4,
            "target_update_interval": 1_000,
            "loss": "huber",
            "steps_per_update": 10_000,
            "lr": 1e-4,
            "epsilon_end": 0.01,
            "epsilon_anneal_steps": 1_000_000.0,
        }
    }
    suite_run_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # an update of 1e4 steps is ~85 s on a CPU; each checkpoint holds the 7.2 GB buffer
        "atari": {"chunk_updates": 1, "checkpoint_every": 25},
    }
    supports_image_observations: ClassVar[bool] = True

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require(
            self, "target_update_interval",
            self.target_update_interval >= 1
            and self.target_update_interval % self.train_frequency == 0,
            f"must be a positive multiple of train_frequency={self.train_frequency} (the target "
            "is refreshed between training phases)",
        )  # fmt: skip
        require(self, "hidden_sizes", all(h >= 1 for h in self.hidden_sizes), "widths must be >= 1")
        require_torso(self, spec)
        require(
            self,
            "env_id",
            spec.discrete_actions,
            f"DQN needs a discrete action space, this env's is {type(spec.action_space).__name__} "
            "(use ddpg or ppo for continuous actions)",
        )
        require_finite_in(self, "huber_delta", 0.0, math.inf, open_low=True)
        if self.loss == "huber" and not rewards_clipped(spec):
            return_scale = unit_return_scale(self.gamma, spec.episode_limit)
            if self.huber_delta < return_scale:
                warnings.warn(
                    HuberScaleWarning(huber_scale_message(self, return_scale)), stacklevel=2
                )
        require_finite_in(self, "lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "gamma", 0.0, 1.0)
        require_finite_in(self, "tau", 0.0, 1.0, open_low=True)
        require_finite_in(self, "epsilon_start", 0.0, 1.0)
        require_finite_in(self, "epsilon_end", 0.0, self.epsilon_start)
        require_finite_in(self, "epsilon_anneal_steps", 0.0, math.inf, open_low=True)
        return spec


Config = DQNConfig


class HuberScaleWarning(UserWarning):
    """--loss huber with a delta below the return scale on rewards that are not clipped."""


def rewards_clipped(spec: envs.EnvSpec) -> bool:
    """Whether the env clips its training rewards to [-1, 1] (Atari's default, `reward_clip`)."""
    if spec.suite != "atari":
        return False
    from purejaxrl.envs.atari import TRAINING_DEFAULTS

    return bool({**TRAINING_DEFAULTS, **dict(spec.options)}["reward_clip"])


def unit_return_scale(gamma: float, episode_limit: int | None) -> float:
    """The largest discounted return of rewards of size 1: sum of gamma^k over an episode, (1 -
    gamma^L) / (1 - gamma) for episodes of at most L steps."""
    if gamma >= 1.0:
        return float(episode_limit) if episode_limit else math.inf
    return (1.0 - gamma ** (episode_limit or math.inf)) / (1.0 - gamma)


def huber_scale_message(config: DQNConfig, return_scale: float) -> str:
    return (
        f"loss=huber with huber_delta={config.huber_delta:g} on {config.env_id}, whose rewards "
        f"are not clipped: returns reach {return_scale:.3g} x the reward size, so "
        "most TD errors exceed delta, each gets a gradient of the same size, the fit follows "
        "the median target and overestimation compounds at every target refresh (CartPole-v1: "
        "every seed diverged to 9.6 with delta 1 and 10; learned with 100). Huber with delta 1 is "
        "meant for rewards clipped to [-1, 1] (Atari); here use --loss mse or a --huber-delta "
        "near max |r| / (1 - gamma)"
    )


DQNHParams = hparams_type(DQNConfig)
"""`hp`: DQNConfig's traced fields as float32 arrays (`hp.<field>`), scalars in one run."""


@struct.dataclass
class DQNState:
    params: Any
    target_params: Any
    opt_state: Any
    buffer: BufferState | FrameBufferState  # transitions (see `make_buffer`)
    env_state: Any
    obs: jax.Array  # (N, *obs_shape) current observation of every env
    timesteps: jax.Array  # () int32 env steps taken, all envs together
    key: jax.Array


def dqn_target(reward, terminated, gamma, q_next_target) -> jax.Array:
    """y = r + gamma (1 - terminated) max_a Q_target(s', a)   (Mnih et al. 2015, eq. 2 and Alg. 1).

    A truncated (time-limit) step is not terminated: it bootstraps from the true next state s'.

    Args:
        reward, terminated: (B,). q_next_target: (B, A) target network values at s'.

    Returns:
        (B,) targets.
    """
    return reward + gamma * (1.0 - terminated) * q_next_target.max(-1)


def double_dqn_target(reward, terminated, gamma, q_next_target, q_next_online) -> jax.Array:
    """y = r + gamma (1 - terminated) Q_target(s', argmax_a Q_online(s', a))   (van Hasselt et al. 2016, eq. 4).

    Args:
        reward, terminated: (B,). q_next_target, q_next_online: (B, A) values at s'.
    """
    best = jnp.argmax(q_next_online, axis=-1)
    chosen = jnp.take_along_axis(q_next_target, best[:, None], axis=-1)[:, 0]
    return reward + gamma * (1.0 - terminated) * chosen


def dqn_loss(network: QNetwork, params, target_params, batch: Transition, hp: DQNHParams, config):
    """Mean regression loss of Q(s, a) on the (Double) DQN target, held fixed (no gradient).

    Squared error, or the Huber loss with `hp.huber_delta`: the 2015 paper (Mnih et al., Methods,
    "Training algorithm") clips the error term's gradient to [-1, 1], which is Huber with delta 1,
    on rewards clipped to [-1, 1]. Huber's gradient is bounded by delta whatever the error, so
    with delta well below the size of the errors it regresses on the median target rather than
    the mean; keep delta near the return scale when rewards are not clipped.
    """
    q = network.apply(params, batch.obs)  # (B, A)
    q_taken = jnp.take_along_axis(q, batch.action[:, None].astype(jnp.int32), axis=-1)[:, 0]
    q_next_target = network.apply(target_params, batch.next_obs)
    terminated = batch.terminated.astype(jnp.float32)
    if config.double:
        q_next_online = network.apply(params, batch.next_obs)
        target = double_dqn_target(batch.reward, terminated, hp.gamma, q_next_target, q_next_online)
    else:
        target = dqn_target(batch.reward, terminated, hp.gamma, q_next_target)
    error = q_taken - jax.lax.stop_gradient(target)
    if config.loss == "huber":
        loss = optax.huber_loss(error, delta=hp.huber_delta).mean()
    else:
        loss = jnp.square(error).mean()
    return loss, {"loss": loss, "q_mean": q_taken.mean()}


def make_network(config: DQNConfig, spec: envs.EnvSpec) -> QNetwork:
    """The Q-network; a tabular env's integer observation is one-hot encoded inside it, Atari
    frames go through a CNN."""
    num_states = spec.observation_space.n if spec.tabular else 0
    torso = resolve_torso(config.torso, spec.observation_space)
    return QNetwork(spec.num_actions, config.hidden_sizes, config.activation, num_states, torso)


def make_buffer(config: DQNConfig, spec: envs.EnvSpec) -> ReplayBuffer | FrameReplayBuffer:
    """The replay buffer: for Atari (envpool's stacked frames) a `FrameReplayBuffer`, which stores
    each frame once and returns the same batches as a `ReplayBuffer` in about 1/8 of the memory;
    for every other env a `ReplayBuffer` of whole transitions."""
    if spec.suite != "atari":
        return ReplayBuffer(config.buffer_size)
    channels = 1 if dict(spec.options).get("gray_scale", True) else 3  # per frame
    stack = spec.observation_space.shape[0] // channels
    return FrameReplayBuffer(config.buffer_size, config.num_envs, stack)


def make_learner(config: DQNConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds DQN's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, config.num_envs)
    network = make_network(config, spec)
    buffer = make_buffer(config, spec)
    act = jax.vmap(epsilon_greedy, in_axes=(0, 0, None))
    trained = config.num_updates * config.steps_per_update  # the budget, in whole updates
    learning_phases = (trained - config.learning_starts) // config.train_frequency
    total_gradient_steps = max(1, learning_phases * config.gradient_steps)

    def optimizer(hp: DQNHParams) -> optax.GradientTransformation:
        if not config.anneal_lr:
            return optax.adam(hp.lr)
        return optax.adam(
            lambda count: hp.lr * jnp.maximum(0.0, 1.0 - count / total_gradient_steps)
        )

    def init(key: jax.Array, hp: DQNHParams) -> DQNState:
        key, net_key, env_key = jax.random.split(key, 3)
        obs, env_state = env.reset(env_key)
        params = network.init(net_key, obs)
        example = example_transition(obs, jnp.zeros((), jnp.int32))
        opt_state = optimizer(hp).init(params)
        return DQNState(
            params, params, opt_state, buffer.init(example), env_state, obs, jnp.int32(0), key
        )

    def epsilon(state: DQNState, hp: DQNHParams) -> jax.Array:
        return linear_epsilon(
            hp.epsilon_start, hp.epsilon_end, hp.epsilon_anneal_steps, state.timesteps
        )

    def epsilon_greedy_actions(state: DQNState, hp: DQNHParams, key) -> tuple[DQNState, jax.Array]:
        q = network.apply(state.params, state.obs)  # (N, A)
        return state, act(jax.random.split(key, config.num_envs), q, epsilon(state, hp))

    def gradient_step(state: DQNState, hp: DQNHParams, key) -> tuple[DQNState, Metrics]:
        batch = buffer.sample(state.buffer, key, config.batch_size)
        grads, metrics = jax.grad(dqn_loss, argnums=1, has_aux=True)(
            network, state.params, state.target_params, batch, hp, config
        )
        updates, opt_state = optimizer(hp).update(grads, state.opt_state, state.params)
        return state.replace(
            params=optax.apply_updates(state.params, updates), opt_state=opt_state
        ), metrics

    def refresh_target(state: DQNState, hp: DQNHParams) -> DQNState:
        """Moves the target towards the online network when the phase crossed a multiple of
        target_update_interval env steps."""
        interval = config.target_update_interval
        crossed = (
            state.timesteps // interval > (state.timesteps - config.train_frequency) // interval
        )
        target = soft_update(state.target_params, state.params, hp.tau)
        target = jax.tree.map(
            lambda new, old: jnp.where(crossed, new, old), target, state.target_params
        )
        return state.replace(target_params=target)

    agent = OffPolicyAgent(
        act=epsilon_greedy_actions,
        gradient_step=gradient_step,
        after_phase=refresh_target,
        update_metrics=lambda state, hp: {"epsilon": epsilon(state, hp)},
    )
    update = make_update(config, env, buffer, spec, agent)

    def export(state: DQNState) -> dict:
        return {"params": state.params}

    return Learner(init, update, export, config.num_updates, config.steps_per_update)


def make_train(config: DQNConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: DQNConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: greedy in the learned Q-values."""
    network = make_network(config, config.env_spec() if spec is None else spec)

    def act(exported: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        return jnp.argmax(network.apply(exported["params"], obs), axis=-1)

    return act


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("dqn")
