"""PPO (clipped surrogate or adaptive KL penalty) with GAE, on any gymnax env; results in runs/<env>/ppo/.

    python -m purejaxrl.ppo --env-id CartPole-v1 --num-seeds 8
    python -m purejaxrl.ppo --env-id Pendulum-v1 --total-timesteps 1000000 --num-envs 16 ...
    python -m purejaxrl.ppo --lr 1e-4 3e-4 1e-3 --num-seeds 8    # 3 x 8 runs, one compiled call
    python -m purejaxrl.ppo --env-id Breakout-v5                # Atari through envpool: CNN, 1e7 steps

Defaults are PureJaxRL's CartPole settings, so the two can be compared run for run. On an Atari id
they are CleanRL's envpool PPO settings (`PPOConfig.suite_defaults["atari"]`), on a MuJoCo id
(`HalfCheetah-v4`, envpool) those of CleanRL's ppo_continuous_action.

Reading map, top to bottom:
  PPOConfig      static fields (shapes, loop counts) and traced ones (`hp.lr`, `hp.gamma`, ...)
  Batch, PPOState  what the loss sees; the learner state of one run
  ppo_loss       the clipped (or KL-penalised) surrogate, value and entropy terms
  batch_kl, adapt_kl_beta, next_kl_beta  the KL penalty's coefficient, adapted after each update (--loss kl)
  make_parts     init: reset envs, init network and Adam; rollout: collect a rollout
                 (`rollout.collect`); learn: GAE (`returns.generalized_advantage_estimation`),
                 then epochs x minibatches of gradient steps, all `lax.scan`s
  make_learner   update = learn after rollout (GAIL rewrites the rewards in between)
  make_train     the whole run as one pure function of (key, hp)
The networks (MLP or Atari CNN actor-critic) are in `networks.py`; the runner and CLI that turn this
file into a sweep are `runner.py` and `cli.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import chex
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
from purejaxrl.hparams import StaticView, hparams_type, static_view, traced
from purejaxrl.learner import Learner, Metrics, episode_metrics, learner_inputs, scan_updates
from purejaxrl.networks import (
    ActivationName,
    ActorCritic,
    TorsoName,
    make_actor_critic,
    make_actor_critic_policy,
    make_actor_critic_sampler,
)
from purejaxrl.returns import generalized_advantage_estimation
from purejaxrl.rollout import collect


@dataclass(frozen=True)
class PPOConfig(BaseConfig):
    """Proximal Policy Optimization (Schulman et al. 2017)."""

    env_id: str = "CartPole-v1"
    """Environment id (any gymnax id; discrete or continuous actions)."""
    total_timesteps: int = 500_000
    """Environment steps per run (summed over parallel envs)."""
    num_envs: int = 4
    """Parallel environments per run."""
    num_steps: int = 128
    """Steps per environment in each rollout; a batch is num_envs * num_steps transitions."""
    update_epochs: int = 4
    """Passes over each batch."""
    num_minibatches: int = 4
    """Minibatches per pass; must divide num_envs * num_steps."""
    loss: Literal["clip", "kl"] = "clip"
    """Policy objective: the clipped surrogate, or the surrogate with an adaptive KL penalty."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    normalize_advantages: bool = True
    """Standardise advantages within each minibatch."""
    clip_value_loss: bool = True
    """Clip the value update to clip_eps around the old value (as PureJaxRL and CleanRL do)."""
    normalize_observations: bool = False
    """Normalise observations by running statistics (helps continuous control)."""
    normalize_rewards: bool = False
    """Divide rewards by the running standard deviation of each env's discounted return, then
    clip them to [-10, 10] (`scale_rewards`; CleanRL's MuJoCo setting): the value targets keep a
    scale near one whatever the task's reward scale."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy and of the value network."""
    activation: ActivationName = "tanh"
    """Hidden activation."""
    torso: TorsoName = "auto"
    """Network body: auto (the Nature CNN for image observations, else an MLP), mlp, nature_cnn or
    small_cnn (the 2013 DQN network)."""
    lr: float = traced(2.5e-4)
    """Adam learning rate."""
    gamma: float = traced(0.99)
    """Discount factor."""
    gae_lambda: float = traced(0.95)
    """GAE lambda."""
    clip_eps: float = traced(0.2)
    """Surrogate clipping range, also used for the value clipping."""
    ent_coef: float = traced(0.01)
    """Entropy bonus coefficient."""
    vf_coef: float = traced(0.5)
    """Value loss coefficient."""
    max_grad_norm: float = traced(0.5)
    """Global gradient-norm clip."""
    kl_target: float = traced(0.01)
    """Target KL per update for --loss kl."""
    kl_beta: float = traced(1.0)
    """Initial KL penalty coefficient for --loss kl, adapted after every update from the KL
    between the rollout's policy and the updated one over the whole batch (metric update_kl)."""

    suite_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "atari": {
            "total_timesteps": 10_000_000,
            "num_envs": 8,
            "clip_eps": 0.1,
        },
        # CleanRL's ppo_continuous_action (its MuJoCo v4 benchmark settings)
        "mujoco": {
            "total_timesteps": 1_000_000,
            "num_envs": 1,
            "num_steps": 2048,
            "num_minibatches": 32,
            "update_epochs": 10,
            "lr": 3e-4,
            "ent_coef": 0.0,
            "normalize_observations": True,
            "normalize_rewards": True,
        },
    }  # the rest of CleanRL's ppo_atari_envpool / ppo_continuous_action settings equal the defaults
    suite_run_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # an update is ~4 s on a CPU, ~0.2 s on a GPU: chunks of ~30 s / ~2 s
        "atari": {"chunk_updates": 8, "checkpoint_every": 200},
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
        for name in ("num_envs", "num_steps", "update_epochs", "num_minibatches"):
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
        require(
            self,
            "normalize_observations",
            not (self.normalize_observations and spec.image_observations),
            "image observations (Atari frames) are scaled inside the CNN, not normalised",
        )
        require_finite_in(self, "lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "gamma", 0.0, 1.0)
        require_finite_in(self, "gae_lambda", 0.0, 1.0)
        require_finite_in(self, "clip_eps", 0.0, math.inf, open_low=True)
        require_finite_in(self, "ent_coef", 0.0, math.inf)
        require_finite_in(self, "vf_coef", 0.0, math.inf)
        require_finite_in(self, "max_grad_norm", 0.0, math.inf, open_low=True)
        require_finite_in(self, "kl_target", 0.0, math.inf, open_low=True)
        require_finite_in(self, "kl_beta", 0.0, math.inf)
        return spec


Config = PPOConfig
PPOHParams = hparams_type(PPOConfig)
"""`hp`: PPOConfig's traced fields as float32 arrays (`hp.<field>`), scalars in one run."""


class Batch(NamedTuple):
    """What the loss sees, flattened over (T, N) and shuffled."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    dist: Any
    advantage: jax.Array
    target: jax.Array
    valid: jax.Array  # false for envpool's dummy reset steps, which carry no weight in the loss


@struct.dataclass
class PPOState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array  # (N, *obs_shape) current observation of every env
    kl_beta: jax.Array  # () current KL penalty coefficient (--loss kl)
    key: jax.Array
    reward_scale: Any = None  # `RewardScale` with --normalize-rewards, else None


@struct.dataclass
class RewardScale:
    """The running scale of the rewards (`--normalize-rewards`)."""

    returns: jax.Array  # (N,) discounted return of each env's running episode so far
    stats: Any  # envs.wrappers.RunningMeanStd, shape (): those returns' mean and variance


def scale_rewards(
    scale: RewardScale, reward: jax.Array, done: jax.Array, gamma
) -> tuple[jax.Array, RewardScale]:
    """Rewards (T, N) divided by the running standard deviation of the discounted return
    G_t = r_t + gamma G_{t-1} (G restarting with each episode: `done` (T, N) ends one), its
    statistics first updated with this rollout's G; then clipped to [-10, 10]. The reward
    scaling of Engstrom et al. 2020 ("Implementation Matters in Deep Policy Gradients") as
    CleanRL's MuJoCo PPO applies it (gymnasium's NormalizeReward, then a clip at 10).
    """
    chex.assert_equal_shape((reward, done))

    def step(carry, x):  # carry: G_{t-1}, zero after an episode's end
        r, d = x
        g = r + gamma * carry
        return g * (1.0 - d), g

    carry, returns = jax.lax.scan(step, scale.returns, (reward, done.astype(reward.dtype)))
    stats = scale.stats.update(returns.reshape(-1))
    scaled = jnp.clip(reward / jnp.sqrt(stats.var + 1e-8), -10.0, 10.0)
    return scaled, RewardScale(carry, stats)


def ppo_loss(
    network: ActorCritic, params, batch: Batch, hp: PPOHParams, kl_beta, config: StaticView
) -> tuple[jax.Array, Metrics]:
    """The PPO objective on one minibatch, to minimise: `ppo_objective` of the network's
    distribution and value on `batch.obs`."""
    dist, value = network.apply(params, batch.obs)
    return ppo_objective(dist, value, batch, hp, kl_beta, config)


def ppo_objective(
    dist, value: jax.Array, batch: Batch, hp: PPOHParams, kl_beta, config: StaticView
) -> tuple[jax.Array, Metrics]:
    """The PPO objective of the current policy `dist` and values `value` on `batch`, to minimise.

    Policy term, with ratio r = pi(a|s) / pi_old(a|s) and advantages A:
      clip: -E[min(r A, clip(r, 1 - eps, 1 + eps) A)]          (Schulman et al. 2017, eq. 7)
      kl:   -E[r A] + beta E[KL(pi_old(.|s) || pi(.|s))]          (Schulman et al. 2017, eq. 8)
    plus vf_coef times the (optionally clipped) squared value error against the GAE returns and
    minus ent_coef times the policy entropy. Every expectation is a mean over the valid steps.

    Args:
        dist, value: the policy and value being trained, on `batch.obs`; any batch shape B
            (B = (minibatch,) for PPO, (T, envs of the minibatch) for recurrent PPO).
        batch: fields of shape (*B, ...).
    """
    log_ratio = dist.log_prob(batch.action) - batch.log_prob
    ratio = jnp.exp(log_ratio)
    weight = batch.valid.astype(jnp.float32)
    count = jnp.maximum(weight.sum(), 1.0)

    def mean(x):
        return (x * weight).sum() / count

    advantage = batch.advantage
    if config.normalize_advantages:
        centred = advantage - mean(advantage)
        advantage = centred / (jnp.sqrt(mean(jnp.square(centred))) + 1e-8)
    kl = mean(batch.dist.kl(dist))
    if config.loss == "clip":
        clipped = jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps)
        policy_loss = -mean(jnp.minimum(ratio * advantage, clipped * advantage))
    else:
        policy_loss = -mean(ratio * advantage) + kl_beta * kl

    value_loss = jnp.square(value - batch.target)
    if config.clip_value_loss:
        value_clipped = batch.value + jnp.clip(value - batch.value, -hp.clip_eps, hp.clip_eps)
        value_loss = jnp.maximum(value_loss, jnp.square(value_clipped - batch.target))
    value_loss = 0.5 * mean(value_loss)
    entropy = mean(dist.entropy())
    total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
    return total, {
        "loss": total,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "kl": kl,
        "clip_fraction": mean(jnp.abs(ratio - 1.0) > hp.clip_eps),
    }


def batch_kl(network: ActorCritic, params, batch: Batch) -> jax.Array:
    """d = E[KL(pi_old(.|s) || pi(.|s))] over the valid steps of `batch`, pi from `params`.

    Args:
        batch: fields of shape (B, ...); `batch.dist` is the behaviour policy pi_old.

    Returns:
        () the mean KL.
    """
    dist, _ = network.apply(params, batch.obs)
    return mean_kl(batch.dist, dist, batch.valid)


def mean_kl(old_dist, dist, valid: jax.Array) -> jax.Array:
    """() E[KL(old_dist || dist)] over the entries where `valid` (any batch shape) is true."""
    weight = valid.astype(jnp.float32)
    return (old_dist.kl(dist) * weight).sum() / jnp.maximum(weight.sum(), 1.0)


def adapt_kl_beta(kl_beta, update_kl, kl_target) -> jax.Array:
    """The adaptive KL penalty coefficient (Schulman et al. 2017, section 4).

    After the epochs of an update, with d = E[KL(pi_old || pi_new)] measured on that update's
    batch with the new parameters (`batch_kl`): beta / 2 if d < d_targ / 1.5, beta * 2 if
    d > 1.5 d_targ, else beta unchanged.

    Args:
        kl_beta, update_kl, kl_target: scalars (beta, d, d_targ).
    """
    kl_beta = jnp.where(update_kl < kl_target / 1.5, kl_beta / 2, kl_beta)
    return jnp.where(update_kl > kl_target * 1.5, kl_beta * 2, kl_beta)


def ppo_optimizer(config: StaticView, hp: PPOHParams) -> optax.GradientTransformation:
    """Global-norm clipping then Adam (eps 1e-5); with anneal_lr, PureJaxRL's schedule: constant
    within an update, linear to 0 over the updates."""
    if config.anneal_lr:
        steps_per_lr_step = config.update_epochs * config.num_minibatches

        def lr(count):
            return hp.lr * (1.0 - (count // steps_per_lr_step) / config.num_updates)
    else:
        lr = hp.lr
    return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(lr, eps=1e-5))


def ppo_epochs(
    loss: Callable[[Any, Any], tuple[jax.Array, Metrics]],
    params,
    opt_state,
    tx: optax.GradientTransformation,
    batch,
    epoch_keys: jax.Array,
    config: StaticView,
    sample_axis: int = 0,
) -> tuple[Any, Any, Metrics]:
    """`config.update_epochs` passes over `batch`, each shuffled and split into
    `config.num_minibatches` minibatches along `sample_axis`, one gradient step of `loss` on each.

    Args:
        loss: `loss(params, minibatch) -> (scalar, metrics)`.
        batch: a pytree whose leaves share the sample axis `sample_axis`: (B, ...) with axis 0 for
            PPO's flattened steps; (T, N, ...) with axis 1 for recurrent PPO's whole sequences.
        epoch_keys: (update_epochs,) the shuffling key of each epoch.
        config: reads only `update_epochs` and `num_minibatches` (GAIL's discriminator passes
            its own pair).

    Returns:
        (params, opt_state, metrics): metrics averaged over every minibatch of every epoch.
    """
    grad_fn = jax.grad(loss, has_aux=True)
    num_samples = jax.tree.leaves(batch)[0].shape[sample_axis]

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        grads, metrics = grad_fn(params, minibatch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), metrics

    def split(x, order):
        x = jnp.take(x, order, axis=sample_axis)
        x = x.reshape(
            (*x.shape[:sample_axis], config.num_minibatches, -1, *x.shape[sample_axis + 1 :])
        )
        return jnp.moveaxis(x, sample_axis, 0)  # (num_minibatches, ...)

    def epoch(carry, key):
        order = jax.random.permutation(key, num_samples)
        minibatches = jax.tree.map(lambda x: split(x, order), batch)
        return jax.lax.scan(minibatch_step, carry, minibatches)

    (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state), epoch_keys)
    return params, opt_state, jax.tree.map(jnp.mean, metrics)


class PPOParts(NamedTuple):
    """PPO's learner in its two halves, for algorithms that run PPO on a reward of their own
    (`purejaxrl.gail`): `update` is `learn(*rollout(state), hp)`, and anything between the two may
    rewrite the trajectory's rewards."""

    env: Any
    """The `BatchedEnv` of num_envs envs."""
    network: ActorCritic
    init: Callable[[jax.Array, Any], PPOState]
    """(key, hp) -> a fresh `PPOState`."""
    rollout: Callable[[PPOState], tuple[PPOState, Any]]
    """state -> (state with the envs and key advanced, `rollout.RolloutStep` (T, N, ...))."""
    learn: Callable[[PPOState, Any, Any], tuple[PPOState, Metrics]]
    """(state, trajectory, hp) -> (state, metrics): GAE on the trajectory's rewards, then the
    epochs of minibatch steps; the metrics include the episode statistics of its `info`."""


def make_parts(config: PPOConfig, spec: envs.EnvSpec | None = None) -> PPOParts:
    """PPO's env, network, init and the two halves of its update, for `config` (static view)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(
        spec, config.num_envs, normalize_observations=config.normalize_observations
    )
    network = make_actor_critic(config, spec)

    def init(key: jax.Array, hp: PPOHParams) -> PPOState:
        key, net_key, env_key = jax.random.split(key, 3)
        obs, env_state = env.reset(env_key)
        params = network.init(net_key, obs)
        opt_state = ppo_optimizer(config, hp).init(params)
        reward_scale = None
        if config.normalize_rewards:
            reward_scale = RewardScale(
                jnp.zeros(config.num_envs), envs.wrappers.RunningMeanStd.create(())
            )
        return PPOState(params, opt_state, env_state, obs, hp.kl_beta, key, reward_scale)

    def rollout(state: PPOState):
        env_state, obs, key, traj = collect(
            env, network, state.params, state.env_state, state.obs, state.key, config.num_steps
        )  # traj fields: (T, N, ...)
        return state.replace(env_state=env_state, obs=obs, key=key), traj

    def learn(state: PPOState, traj, hp: PPOHParams) -> tuple[PPOState, Metrics]:
        _, next_value = network.apply(state.params, traj.next_obs)  # (T, N)
        reward, reward_scale, scale_metrics = traj.reward, state.reward_scale, {}
        if config.normalize_rewards:
            reward, reward_scale = scale_rewards(reward_scale, reward, traj.done, hp.gamma)
            scale_metrics = {"reward_scale": jnp.sqrt(reward_scale.stats.var + 1e-8)}
        advantage, target = generalized_advantage_estimation(
            reward, traj.value, next_value, traj.terminated, traj.done, hp.gamma, hp.gae_lambda,
        )  # fmt: skip
        batch = Batch(
            traj.obs,
            traj.action,
            traj.log_prob,
            traj.value,
            traj.dist,
            advantage,
            target,
            traj.valid,
        )
        batch = jax.tree.map(lambda x: x.reshape((config.batch_size, *x.shape[2:])), batch)

        def loss(params, minibatch: Batch):
            return ppo_loss(network, params, minibatch, hp, state.kl_beta, config)

        key, *epoch_keys = jax.random.split(state.key, config.update_epochs + 1)
        params, opt_state, metrics = ppo_epochs(
            loss, state.params, state.opt_state, ppo_optimizer(config, hp), batch,
            jnp.stack(epoch_keys), config,
        )  # fmt: skip
        # "kl": each minibatch's, before its step
        kl_beta = state.kl_beta
        if config.loss == "kl":
            update_kl = batch_kl(network, params, batch)  # the new policy on the whole batch
            kl_beta = next_kl_beta(kl_beta, update_kl, hp.kl_target, metrics)
        state = state.replace(
            params=params, opt_state=opt_state, kl_beta=kl_beta, key=key, reward_scale=reward_scale
        )
        return state, {**episode_metrics(traj.info), **metrics, **scale_metrics}

    return PPOParts(env, network, init, rollout, learn)


def make_learner(config: PPOConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds PPO's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    parts = make_parts(config, spec)

    def update(state: PPOState, hp: PPOHParams) -> tuple[PPOState, Metrics]:
        return parts.learn(*parts.rollout(state), hp)

    config = static_view(config)
    return Learner(parts.init, update, export_policy, config.num_updates, config.batch_size)


def next_kl_beta(kl_beta, update_kl, kl_target, metrics: dict) -> jax.Array:
    """`adapt_kl_beta`, with the update's KL and the new beta added to `metrics`."""
    kl_beta = adapt_kl_beta(kl_beta, update_kl, kl_target)
    metrics["update_kl"] = update_kl
    metrics["kl_beta"] = kl_beta
    return kl_beta


def export_policy(state) -> dict:
    """What `make_policy`'s act reads from a PPO-like state: the parameters and, with
    `--normalize-observations`, the running observation statistics (else None)."""
    obs_stats = getattr(state.env_state, "obs_stats", None)
    return {"params": state.params, "obs_stats": obs_stats}


def make_train(config: PPOConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: PPOConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: the deterministic (mode) policy of a checkpoint."""
    return make_actor_critic_policy(config, spec)


make_sampling_policy = make_actor_critic_sampler
"""`act(exported, obs, key) -> action`: a sample of the policy (`collect --mode stochastic`)."""

if __name__ == "__main__":
    from purejaxrl.cli import main

    main("ppo")
