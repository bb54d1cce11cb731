"""SAC (twin critics, learned temperature), continuous and discrete actions; results in runs/<env>/sac/.

    python -m purejaxrl.sac --env-id Pendulum-v1 --num-seeds 8
    python -m purejaxrl.sac --env-id CartPole-v1 --total-timesteps 500000    # discrete SAC
    python -m purejaxrl.sac --tau 0.005 0.02 --num-seeds 8                   # 2 x 8 runs, one call

Soft actor-critic maximises reward plus alpha times the policy's entropy. On a continuous (Box)
action space the policy is a tanh-squashed Gaussian (Haarnoja et al. 2018b); on a discrete one it
is categorical and every expectation over actions is computed exactly instead of sampled
(Christodoulou 2019). The form follows the env's action space. Both learn two Q-functions, bootstrap
from the smaller of their slowly updated targets, and tune alpha so that the policy's entropy
tracks a target (`--no-autotune` keeps alpha fixed).

The actor and the critics work in normalised actions a in [-1, 1]^d; the env receives
low + (a + 1) (high - low) / 2. The loop is `offpolicy.py`'s, as DDPG's: one update (one row of
metrics) is `steps_per_update` env steps, made of training phases; each phase steps every env
`train_frequency / num_envs` times (uniformly random actions until `learning_starts`, then actions
sampled from the policy), adds the transitions to the replay buffer, and takes `gradient_steps`
gradient steps once more than `learning_starts` env steps were taken.

Reading map, top to bottom:
  SACConfig       static fields (schedule, sizes) and traced ones (`hp.actor_lr`, `hp.tau`, ...)
  SquashedGaussianActor, CategoricalActor, squashed_gaussian_*   the two policies
  soft_q_target, discrete_soft_q_target   the regression targets of the critics
  critic_loss, actor_loss, temperature_loss   the three objectives, both forms in each
  SACState        the learner state of one run
  make_learner    SAC's part of the off-policy loop (`offpolicy.make_update`): explore, and a
                  gradient_step (critics, actor, alpha, soft target update)
  make_train      the whole run as one pure function of (key, hp)
The critics are `networks.Critic` (continuous) and `networks.QNetwork` (discrete), the replay
buffer is `replay.py`'s, the action scaling `networks.to_env_action`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

import envs
from purejaxrl import cli
from purejaxrl.config import (
    HParams,
    require,
    require_box_observations,
    require_finite_in,
    traced,
)
from purejaxrl.distributions import DiagGaussian
from purejaxrl.learner import Learner, Metrics, learner_inputs, scan_updates
from purejaxrl.networks import (
    ACTIVATIONS,
    MLP,
    ActivationName,
    Critic,
    QNetwork,
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
from purejaxrl.replay import BufferState, ReplayBuffer

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
"""Bounds of the Gaussian's log standard deviation before squashing (as CleanRL and SB3)."""

DISCRETE_TARGET_ENTROPY_RATIO = 0.7
"""Default entropy target of the discrete form, as a fraction of the uniform policy's log|A|.

Christodoulou (2019) proposes 0.98 log|A|. With two actions (CartPole) that is 0.679 of at most
0.693 nats: only policies within about 58:42 of uniform meet it, so the temperature must keep the
policy almost uniform. Worse, once alpha dominates the reward the soft Q-values scale with alpha,
and so do the critics' errors between actions; the logits Q / alpha then stop changing with alpha,
the entropy settles just under the target, and log alpha keeps climbing (measured here: alpha
about 5e5 after 4e4 env steps and still rising, return that of random play).
0.7 log|A| (0.485 nats for two actions: one action at about 81% on average) leaves the policy
room to be decisive where it matters. It is the ratio that rejax's tuned CartPole-v1 SAC config
(`target_entropy_ratio: 0.7`) and pomdp-baselines' discrete-SAC CartPole and LunarLander checks
(`--target_entropy 0.7`) use; the author of the paper's reference code suggested lowering the
0.98 for two actions (p-christ/Deep-Reinforcement-Learning-Algorithms-with-PyTorch issue 54, where
0.7-0.8 was reported to work on CartPole). CleanRL's Atari SAC uses 0.89.
"""


@dataclass(frozen=True)
class SACConfig(OffPolicyConfig):
    """Soft Actor-Critic (Haarnoja et al. 2018b), discrete form after Christodoulou (2019).

    The defaults reach -132 [-151, -114] on Pendulum-v1 in 2e4 env steps over 8 seeds (the SB3 zoo
    budget), with 64x64 networks sized for a CPU and one gradient step per 2 env steps (the papers
    take one per env step with 256x256 networks: --train-frequency 1 --hidden-sizes 256 256).
    The replay schedule fields (num_envs ... steps_per_update) are documented on `OffPolicyConfig`.
    """

    env_id: str = "Pendulum-v1"
    """Environment id (a gymnax id; continuous actions use the Gaussian form, discrete ones the
    categorical form)."""
    total_timesteps: int = 20_000
    """Environment steps per run (summed over parallel envs)."""
    num_envs: int = 1
    buffer_size: int = 100_000
    batch_size: int = 256
    learning_starts: int = 1_000
    train_frequency: int = 2
    steps_per_update: int = 1_000
    autotune: bool = True
    """Learn the temperature alpha so that the policy's entropy tracks the target; else keep
    alpha = initial_alpha."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of each critic."""
    activation: ActivationName = "relu"
    """Hidden activation."""
    actor_lr: float = traced(1e-3)
    """Adam learning rate of the actor."""
    critic_lr: float = traced(1e-3)
    """Adam learning rate of the critics."""
    alpha_lr: float = traced(1e-3)
    """Adam learning rate of log alpha (--autotune)."""
    gamma: float = traced(0.99)
    """Discount factor."""
    tau: float = traced(0.005)
    """Soft target update rate theta' <- tau theta + (1 - tau) theta' of the critics, in (0, 1]."""
    initial_alpha: float = traced(1.0)
    """Entropy temperature at the start (and throughout with --no-autotune), > 0."""
    target_entropy_scale: float = traced(1.0)
    """Scale of the entropy target: -scale * action_dim for continuous actions (Haarnoja et al.
    2018b: scale 1); scale * 0.7 * log(num_actions) for discrete ones (see
    `DISCRETE_TARGET_ENTROPY_RATIO`; Christodoulou 2019's 0.98 log|A| is scale 1.4, which keeps a
    two-action policy almost uniform and makes alpha run away on CartPole)."""

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require(self, "hidden_sizes", all(h >= 1 for h in self.hidden_sizes), "widths must be >= 1")
        require_box_observations(self, spec)
        if not spec.discrete_actions:
            require_bounded_box_actions(
                self,
                spec,
                "SAC needs a one-dimensional action Box with finite bounds (or discrete actions)",
            )
        require_finite_in(self, "actor_lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "critic_lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "alpha_lr", 0.0, math.inf, open_low=True)
        require_finite_in(self, "gamma", 0.0, 1.0)
        require_finite_in(self, "tau", 0.0, 1.0, open_low=True)
        require_finite_in(self, "initial_alpha", 0.0, math.inf, open_low=True)
        require_finite_in(self, "target_entropy_scale", 0.0, math.inf)
        return spec


Config = SACConfig


class SquashedGaussianActor(nn.Module):
    """Mean and log standard deviation of a Gaussian over pre-squash actions u, shape
    (*obs.shape[:-1], action_dim) each; the action is tanh(u) (Haarnoja et al. 2018b).

    The log standard deviation depends on the state and is squashed into [LOG_STD_MIN, LOG_STD_MAX].
    """

    action_dim: int
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = obs
        for size in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](nn.Dense(size)(x))
        mean = nn.Dense(self.action_dim)(x)
        log_std = jnp.tanh(nn.Dense(self.action_dim)(x))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1.0)
        return mean, log_std


class CategoricalActor(nn.Module):
    """Logits of a categorical policy over `num_actions`, shape (*obs.shape[:-1], num_actions)."""

    num_actions: int
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return nn.Dense(self.num_actions)(MLP(self.hidden_sizes, self.activation)(obs))


def squashed_gaussian_log_prob(u, mean, log_std) -> jax.Array:
    """log pi(a|s) of a = tanh(u), u ~ N(mean, exp(log_std)^2), as a function of u.

    The change of variables gives log pi(a|s) = log N(u) - sum_i log(1 - tanh(u_i)^2)
    (Haarnoja et al. 2018b, appendix C), with log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))
    computed stably for large |u|.

    Args:
        u, mean, log_std: (..., d). Returns: (...,).
    """
    gaussian = DiagGaussian(mean, log_std).log_prob(u)
    log_det = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return gaussian - jnp.sum(log_det, axis=-1)


def squashed_gaussian_sample(key, mean, log_std) -> tuple[jax.Array, jax.Array]:
    """(a, log pi(a|s)): a reparameterised sample a = tanh(mean + exp(log_std) eps), eps ~ N(0, 1),
    and its log-probability (`squashed_gaussian_log_prob`). a has shape (..., d) in (-1, 1)."""
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.tanh(u), squashed_gaussian_log_prob(u, mean, log_std)


def soft_q_target(r_t, terminated_t, gamma, q_next_min, log_pi_next, alpha) -> jax.Array:
    """y = r + gamma (1 - terminated) (min_i Q'_i(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s'):
    the soft Bellman backup of Haarnoja et al. 2018b (the soft value V(s') estimated by one sample).

    A truncated (time-limit) step is not terminated: it bootstraps from the true next state s'.

    Args:
        r_t, terminated_t, q_next_min, log_pi_next: (B,). Returns (B,) targets.
    """
    return r_t + gamma * (1.0 - terminated_t) * (q_next_min - alpha * log_pi_next)


def discrete_soft_q_target(r_t, terminated_t, gamma, q_next_min, probs_next, alpha) -> jax.Array:
    """y = r + gamma (1 - terminated) sum_a pi(a|s') (min_i Q'_i(s', a) - alpha log pi(a|s')):
    the soft value of s' computed exactly over the actions (Christodoulou 2019, eq. 10).

    Args:
        r_t, terminated_t: (B,). q_next_min: (B, A). probs_next: (B, A) pi(.|s').
    """
    log_probs = jnp.log(jnp.clip(probs_next, 1e-8, 1.0))
    value = jnp.sum(probs_next * (q_next_min - alpha * log_probs), axis=-1)
    return r_t + gamma * (1.0 - terminated_t) * value


def critic_loss(q: jax.Array, target: jax.Array) -> jax.Array:
    """J_Q = 1/2 sum_i E[(Q_i(s, a) - y)^2] over the twin critics, y held fixed (Haarnoja et al.
    2018b, the soft Q-function objective; one term per critic as in their twin-Q algorithm).

    Args:
        q: (C, B) each critic's value of the stored (s, a). target: (B,).
    """
    return 0.5 * jnp.square(q - jax.lax.stop_gradient(target)[None]).mean(axis=1).sum()


def actor_loss(log_pi, q_min, alpha, probs=None) -> jax.Array:
    """J_pi = E_s[E_{a~pi}[alpha log pi(a|s) - min_i Q_i(s, a)]] (Haarnoja et al. 2018b, the
    policy objective with reparameterised actions); in the discrete form the inner expectation is
    the exact sum over actions (Christodoulou 2019, eq. 12).

    Args:
        log_pi, q_min: (B,) for sampled actions, or (B, A) over all actions with `probs` (B, A).
        alpha: () held fixed.
    """
    inner = jax.lax.stop_gradient(alpha) * log_pi - q_min
    if probs is not None:
        inner = jnp.sum(probs * inner, axis=-1)
    return inner.mean()


def temperature_loss(log_alpha, log_pi, target_entropy, probs=None) -> jax.Array:
    """J(alpha) = E[-alpha (log pi(a|s) + target_entropy)], pi held fixed (Haarnoja et al. 2018b,
    the temperature objective; discrete: the expectation over actions is exact, Christodoulou
    2019, eq. 11). Its gradient raises alpha while the entropy is below the target.

    Args:
        log_alpha: () the learned parameter. log_pi: (B,) or (B, A) with `probs` (B, A).
    """
    inner = jax.lax.stop_gradient(log_pi) + target_entropy
    if probs is not None:
        inner = jnp.sum(jax.lax.stop_gradient(probs) * inner, axis=-1)
    return -(jnp.exp(log_alpha) * inner).mean()


@struct.dataclass
class Networks:
    actor: Any
    critic: Any  # leaves with a leading (2,) axis: the twin critics
    log_alpha: jax.Array  # ()


@struct.dataclass
class SACState:
    params: Networks
    target_critic: Any  # the critics' slowly updated copy, leaves (2, ...)
    actor_opt_state: Any
    critic_opt_state: Any
    alpha_opt_state: Any
    buffer: (
        BufferState  # transitions with normalised (or integer) actions, leaves (buffer_size, ...)
    )
    env_state: Any
    obs: jax.Array  # (N, *obs_shape) current observation of every env
    timesteps: jax.Array  # () int32 env steps taken, all envs together
    key: jax.Array


def make_networks(config: SACConfig, spec: envs.EnvSpec) -> tuple[nn.Module, nn.Module]:
    """(actor, critic): the squashed Gaussian and Q(s, a) for continuous actions; the categorical
    policy and Q(s, .) for discrete ones."""
    if spec.discrete_actions:
        actor = CategoricalActor(spec.num_actions, config.hidden_sizes, config.activation)
        return actor, QNetwork(spec.num_actions, config.hidden_sizes, config.activation)
    action_dim = math.prod(spec.action_space.shape)
    actor = SquashedGaussianActor(action_dim, config.hidden_sizes, config.activation)
    return actor, Critic(config.hidden_sizes, config.activation)


def target_entropy(config: SACConfig, spec: envs.EnvSpec, hp: HParams) -> jax.Array:
    """The entropy alpha is tuned towards (see `SACConfig.target_entropy_scale`)."""
    if spec.discrete_actions:
        return hp.target_entropy_scale * DISCRETE_TARGET_ENTROPY_RATIO * jnp.log(spec.num_actions)
    return -hp.target_entropy_scale * math.prod(spec.action_space.shape)


def make_learner(config: SACConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds SAC's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, config.num_envs)
    discrete = spec.discrete_actions
    actor, critic = make_networks(config, spec)
    space = spec.action_space
    action_shape = () if discrete else (math.prod(space.shape),)
    buffer = ReplayBuffer(config.buffer_size)
    # (C, B) for sampled actions, (C, B, A) over all actions in the discrete form
    critic_values = jax.vmap(critic.apply, in_axes=(0, None) if discrete else (0, None, None))

    def q_values(critic_params, obs, action=None):
        return (
            critic_values(critic_params, obs)
            if discrete
            else critic_values(critic_params, obs, action)
        )

    def optimizers(hp: HParams):
        return optax.adam(hp.actor_lr), optax.adam(hp.critic_lr), optax.adam(hp.alpha_lr)

    def init(key: jax.Array, hp: HParams) -> SACState:
        key, actor_key, critic_key, env_key = jax.random.split(key, 4)
        obs, env_state = env.reset(env_key)
        critic_keys = jax.random.split(critic_key, 2)
        if discrete:
            critic_params = jax.vmap(critic.init, in_axes=(0, None))(critic_keys, obs)
            action = jnp.zeros((), jnp.int32)
        else:
            dummy = jnp.zeros((config.num_envs, *action_shape))
            critic_params = jax.vmap(critic.init, in_axes=(0, None, None))(critic_keys, obs, dummy)
            action = jnp.zeros(action_shape)
        params = Networks(actor.init(actor_key, obs), critic_params, jnp.log(hp.initial_alpha))
        actor_tx, critic_tx, alpha_tx = optimizers(hp)
        return SACState(
            params=params,
            target_critic=critic_params,
            actor_opt_state=actor_tx.init(params.actor),
            critic_opt_state=critic_tx.init(params.critic),
            alpha_opt_state=alpha_tx.init(params.log_alpha),
            buffer=buffer.init(example_transition(obs, action)),
            env_state=env_state,
            obs=obs,
            timesteps=jnp.int32(0),
            key=key,
        )

    def policy(actor_params, obs, key):
        """(action, log pi of it, probs or None): a sample of the current policy for each obs."""
        if discrete:
            logits = actor.apply(actor_params, obs)
            log_probs = jax.nn.log_softmax(logits)
            action = jax.random.categorical(key, logits)
            return action, jnp.take_along_axis(log_probs, action[..., None], -1)[..., 0], log_probs
        mean, log_std = actor.apply(actor_params, obs)
        action, log_pi = squashed_gaussian_sample(key, mean, log_std)
        return action, log_pi, None

    def explore(state: SACState, hp: HParams, key) -> tuple[SACState, jax.Array]:
        """Actions (N, ...): uniformly random until learning_starts env steps were taken, then
        sampled from the policy."""
        random_key, policy_key = jax.random.split(key)
        action, _, _ = policy(state.params.actor, state.obs, policy_key)
        uniform = uniform_actions(random_key, spec, config.num_envs)
        return state, jnp.where(state.timesteps < config.learning_starts, uniform, action)

    def gradient_step(state: SACState, hp: HParams, key) -> tuple[SACState, Metrics]:
        sample_key, next_key, actor_key = jax.random.split(key, 3)
        actor_tx, critic_tx, alpha_tx = optimizers(hp)
        params = state.params
        alpha = jnp.exp(params.log_alpha) if config.autotune else hp.initial_alpha
        batch = buffer.sample(state.buffer, sample_key, config.batch_size)
        terminated = batch.terminated.astype(jnp.float32)

        # critics: regress on the soft target of the current policy and the target critics
        next_action, next_log_pi, next_log_probs = policy(params.actor, batch.next_obs, next_key)
        if discrete:
            q_next = q_values(state.target_critic, batch.next_obs).min(0)  # (B, A)
            target = discrete_soft_q_target(
                batch.reward, terminated, hp.gamma, q_next, jnp.exp(next_log_probs), alpha
            )
        else:
            q_next = q_values(state.target_critic, batch.next_obs, next_action).min(0)
            target = soft_q_target(batch.reward, terminated, hp.gamma, q_next, next_log_pi, alpha)

        def critic_objective(critic_params):
            q = q_values(critic_params, batch.obs, batch.action)
            if discrete:  # Q(s, .) -> Q(s, a) of the stored action
                q = jnp.take_along_axis(q, batch.action[None, :, None].astype(jnp.int32), -1)[
                    ..., 0
                ]
            return critic_loss(q, target), q[0].mean()

        (loss, q_mean), grads = jax.value_and_grad(critic_objective, has_aux=True)(params.critic)
        updates, critic_opt_state = critic_tx.update(grads, state.critic_opt_state)
        critic_params = optax.apply_updates(params.critic, updates)

        # actor: against the updated critics, alpha held fixed
        def actor_objective(actor_params):
            if discrete:
                log_probs = jax.nn.log_softmax(actor.apply(actor_params, batch.obs))
                q_min = q_values(critic_params, batch.obs).min(0)
                probs = jnp.exp(log_probs)
                return actor_loss(log_probs, q_min, alpha, probs), (log_probs, probs)
            action, log_pi, _ = policy(actor_params, batch.obs, actor_key)
            q_min = q_values(critic_params, batch.obs, action).min(0)
            return actor_loss(log_pi, q_min, alpha), (log_pi, None)

        (actor_value, (log_pi, probs)), grads = jax.value_and_grad(actor_objective, has_aux=True)(
            params.actor
        )
        updates, actor_opt_state = actor_tx.update(grads, state.actor_opt_state)
        actor_params = optax.apply_updates(params.actor, updates)

        # temperature: towards the target entropy, with the log-probabilities the actor just used
        entropy_target = target_entropy(config, spec, hp)
        alpha_value, grad = jax.value_and_grad(temperature_loss)(
            params.log_alpha, log_pi, entropy_target, probs
        )
        log_alpha, alpha_opt_state = params.log_alpha, state.alpha_opt_state
        if config.autotune:
            update, alpha_opt_state = alpha_tx.update(grad, state.alpha_opt_state)
            log_alpha = optax.apply_updates(params.log_alpha, update)

        entropy = -(jnp.sum(probs * log_pi, -1) if discrete else log_pi).mean()
        state = state.replace(
            params=Networks(actor_params, critic_params, log_alpha),
            target_critic=soft_update(state.target_critic, critic_params, hp.tau),
            actor_opt_state=actor_opt_state,
            critic_opt_state=critic_opt_state,
            alpha_opt_state=alpha_opt_state,
        )
        return state, {
            "loss": loss,
            "q_mean": q_mean,
            "actor_loss": actor_value,
            "alpha_loss": alpha_value,
            "alpha": alpha,
            "entropy": entropy,
        }

    update = make_update(config, env, buffer, spec, OffPolicyAgent(explore, gradient_step))

    def export(state: SACState) -> dict:
        return {"actor": state.params.actor, "critic": state.params.critic}

    return Learner(init, update, export, config.num_updates, config.steps_per_update)


def make_train(config: SACConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: SACConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: the policy's mode, no sampling (tanh of the Gaussian's
    mean in the env's units; the most probable discrete action)."""
    spec = config.env_spec() if spec is None else spec
    actor, _ = make_networks(config, spec)

    def act(exported: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        if spec.discrete_actions:
            return jnp.argmax(actor.apply(exported["actor"], obs), axis=-1)
        mean, _ = actor.apply(exported["actor"], obs)
        space = spec.action_space
        return to_env_action(jnp.tanh(mean), space).reshape((-1, *space.shape))

    return act


if __name__ == "__main__":
    cli.main(SACConfig, make_learner, algo="sac")
