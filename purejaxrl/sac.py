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
  soft_q_target, discrete_soft_q_target   the regression targets of the critics
  soft_q_loss, actor_loss, temperature_loss   the three objectives, both forms in each
  SACState        the learner state of one run
  PolicyTerms, SACForm, continuous_form, discrete_form   what differs between the two forms
                  (the policy and the critics' target), chosen once by `make_form`
  make_learner    SAC's part of the off-policy loop (`offpolicy.make_update`): explore, and a
                  gradient_step (critics, actor, alpha, soft target update)
  make_train      the whole run as one pure function of (key, hp)
The networks are `networks.py`'s (`SquashedGaussianActor` and `Critic` for continuous actions,
`CategoricalActor` and `QNetwork` for discrete ones), the squashed Gaussian `distributions.py`'s,
the replay buffer `replay.py`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxrl import envs
from purejaxrl.checks import require, require_box_observations, require_finite_in
from purejaxrl.distributions import SquashedGaussian
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import Learner, Metrics, learner_inputs, scan_updates
from purejaxrl.networks import (
    ActivationName,
    CategoricalActor,
    Critic,
    QNetwork,
    SquashedGaussianActor,
    soft_update,
)
from purejaxrl.offpolicy import (
    OffPolicyAgent,
    OffPolicyConfig,
    env_actions,
    example_transition,
    make_update,
    require_bounded_box_actions,
    uniform_actions,
)
from purejaxrl.replay import BufferState, ReplayBuffer

DISCRETE_TARGET_ENTROPY_RATIO = 0.7
"""Default entropy target of the discrete form, as a fraction of the uniform policy's log|A|
(see `SACConfig.target_entropy_scale`)."""


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
    2018b: scale 1); scale * 0.7 * log(num_actions) for discrete ones. Christodoulou 2019's
    0.98 log|A| (scale 1.4) keeps a two-action policy almost uniform, and alpha grew without bound
    on CartPole when measured here; 0.7 is the ratio rejax and pomdp-baselines use there."""

    suite_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # CleanRL's sac_continuous_action (its MuJoCo v4 settings): 256x256 networks, a 1e6
        # replay, 5k random steps, one gradient step per env step, Adam 3e-4 (actor) and 1e-3
        # (critics, temperature); gamma, tau, batch, autotune and alpha 1 at the start equal the
        # defaults above. CleanRL steps the actor twice every second step, here once every step.
        "mujoco": {
            "total_timesteps": 1_000_000,
            "buffer_size": 1_000_000,
            "learning_starts": 5_000,
            "train_frequency": 1,
            "hidden_sizes": (256, 256),
            "actor_lr": 3e-4,
            "critic_lr": 1e-3,
            "alpha_lr": 1e-3,
        },
    }

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
SACHParams = hparams_type(SACConfig)
"""`hp`: SACConfig's traced fields as float32 arrays (`hp.<field>`), scalars in one run."""


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


def soft_q_loss(q: jax.Array, target: jax.Array) -> jax.Array:
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
class SACParams:
    """What SAC trains: the actor, the twin critics and the temperature."""

    actor: Any
    critic: Any  # leaves with a leading (2,) axis: the twin critics
    log_alpha: jax.Array  # ()


@struct.dataclass
class SACState:
    params: SACParams
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


class PolicyTerms(NamedTuple):
    """The policy at a batch of B states and the critics' (smaller) value of its actions: of one
    sampled action (continuous form), or of every action, weighted by `probs` (discrete form)."""

    action: jax.Array  # (B, d) or (B,) a sample of the policy
    log_pi: jax.Array  # (B,) log pi of the sample, or (B, A) of every action
    q_min: jax.Array  # (B,) min_i Q_i(s, a) of the sample, or (B, A) of every action
    probs: jax.Array | None  # None, or (B, A) pi(.|s): expectations over actions are exact sums

    def entropy(self) -> jax.Array:
        """(B,) the policy's entropy: exact, or the one-sample estimate -log pi(a|s)."""
        return -(self.log_pi if self.probs is None else jnp.sum(self.probs * self.log_pi, -1))


class SACForm(NamedTuple):
    """What differs between the continuous and the discrete form, chosen once (`make_form`)."""

    actor: nn.Module
    critic: nn.Module
    policy: Callable[..., PolicyTerms]
    """(actor_params, critic_params (2, ...), obs (B, ...), key) -> `PolicyTerms`."""
    soft_target: Callable[..., jax.Array]
    """(r (B,), terminated (B,), gamma, `PolicyTerms` at s' with the target critics, alpha) -> y (B,)."""
    stored_q: Callable[..., jax.Array]
    """(critic_params, obs (B, ...), action (B, ...)) -> (2, B) each critic's Q(s, a) of stored actions."""
    init_critics: Callable[..., Any]
    """(keys (2,), obs (N, ...)) -> the twin critics' parameters, leaves (2, ...)."""
    action_example: jax.Array  # one stored action, for the buffer's layout
    target_entropy: Callable[[SACHParams], jax.Array]
    """hp -> the entropy alpha is tuned towards (`SACConfig.target_entropy_scale`)."""
    mode: Callable[..., jax.Array]
    """(actor_params, obs) -> the most probable action, as stored (for evaluation)."""


def continuous_form(config: SACConfig, spec: envs.EnvSpec) -> SACForm:
    """The squashed Gaussian policy and Q(s, a) on sampled actions (Haarnoja et al. 2018b)."""
    actor, critic = make_networks(config, spec)
    action_dim = math.prod(spec.action_space.shape)
    critic_values = jax.vmap(critic.apply, in_axes=(0, None, None))  # (2, B)

    def policy(actor_params, critic_params, obs, key) -> PolicyTerms:
        action, log_pi = SquashedGaussian(*actor.apply(actor_params, obs)).sample_and_log_prob(key)
        return PolicyTerms(action, log_pi, critic_values(critic_params, obs, action).min(0), None)

    def soft_target(r, terminated, gamma, next_terms: PolicyTerms, alpha) -> jax.Array:
        return soft_q_target(r, terminated, gamma, next_terms.q_min, next_terms.log_pi, alpha)

    def init_critics(keys, obs):
        dummy = jnp.zeros((obs.shape[0], action_dim))
        return jax.vmap(critic.init, in_axes=(0, None, None))(keys, obs, dummy)

    def mode(actor_params, obs):
        return SquashedGaussian(*actor.apply(actor_params, obs)).mode()

    return SACForm(
        actor=actor,
        critic=critic,
        policy=policy,
        soft_target=soft_target,
        stored_q=critic_values,
        init_critics=init_critics,
        action_example=jnp.zeros((action_dim,)),
        target_entropy=lambda hp: -hp.target_entropy_scale * action_dim,
        mode=mode,
    )


def discrete_form(config: SACConfig, spec: envs.EnvSpec) -> SACForm:
    """The categorical policy and Q(s, .) over every action (Christodoulou 2019)."""
    actor, critic = make_networks(config, spec)
    critic_values = jax.vmap(critic.apply, in_axes=(0, None))  # (2, B, A)

    def policy(actor_params, critic_params, obs, key) -> PolicyTerms:
        logits = actor.apply(actor_params, obs)
        log_probs = jax.nn.log_softmax(logits)
        q_min = critic_values(critic_params, obs).min(0)
        return PolicyTerms(
            jax.random.categorical(key, logits), log_probs, q_min, jnp.exp(log_probs)
        )

    def soft_target(r, terminated, gamma, next_terms: PolicyTerms, alpha) -> jax.Array:
        return discrete_soft_q_target(
            r, terminated, gamma, next_terms.q_min, next_terms.probs, alpha
        )

    def stored_q(critic_params, obs, action):  # Q(s, .) -> Q(s, a) of the stored action
        q = critic_values(critic_params, obs)
        return jnp.take_along_axis(q, action[None, :, None].astype(jnp.int32), -1)[..., 0]

    ratio = DISCRETE_TARGET_ENTROPY_RATIO
    return SACForm(
        actor=actor,
        critic=critic,
        policy=policy,
        soft_target=soft_target,
        stored_q=stored_q,
        init_critics=jax.vmap(critic.init, in_axes=(0, None)),
        action_example=jnp.zeros((), jnp.int32),
        target_entropy=lambda hp: hp.target_entropy_scale * ratio * jnp.log(spec.num_actions),
        mode=lambda actor_params, obs: jnp.argmax(actor.apply(actor_params, obs), axis=-1),
    )


def make_form(config: SACConfig, spec: envs.EnvSpec) -> SACForm:
    """The form that follows the env's action space."""
    return (discrete_form if spec.discrete_actions else continuous_form)(config, spec)


def make_learner(config: SACConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds SAC's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, config.num_envs)
    form = make_form(config, spec)
    buffer = ReplayBuffer(config.buffer_size)

    def optimizers(hp: SACHParams):
        return optax.adam(hp.actor_lr), optax.adam(hp.critic_lr), optax.adam(hp.alpha_lr)

    def init(key: jax.Array, hp: SACHParams) -> SACState:
        key, actor_key, critic_key, env_key = jax.random.split(key, 4)
        obs, env_state = env.reset(env_key)
        critic_params = form.init_critics(jax.random.split(critic_key, 2), obs)
        params = SACParams(
            form.actor.init(actor_key, obs), critic_params, jnp.log(hp.initial_alpha)
        )
        actor_tx, critic_tx, alpha_tx = optimizers(hp)
        return SACState(
            params=params,
            target_critic=critic_params,
            actor_opt_state=actor_tx.init(params.actor),
            critic_opt_state=critic_tx.init(params.critic),
            alpha_opt_state=alpha_tx.init(params.log_alpha),
            buffer=buffer.init(example_transition(obs, form.action_example)),
            env_state=env_state,
            obs=obs,
            timesteps=jnp.int32(0),
            key=key,
        )

    def explore(state: SACState, hp: SACHParams, key) -> tuple[SACState, jax.Array]:
        """Actions (N, ...): uniformly random until learning_starts env steps were taken, then
        sampled from the policy."""
        random_key, policy_key = jax.random.split(key)
        params = state.params
        action = form.policy(params.actor, params.critic, state.obs, policy_key).action
        uniform = uniform_actions(random_key, spec, config.num_envs)
        return state, jnp.where(state.timesteps < config.learning_starts, uniform, action)

    def gradient_step(state: SACState, hp: SACHParams, key) -> tuple[SACState, Metrics]:
        sample_key, next_key, actor_key = jax.random.split(key, 3)
        actor_tx, critic_tx, alpha_tx = optimizers(hp)
        params = state.params
        alpha = jnp.exp(params.log_alpha) if config.autotune else hp.initial_alpha
        batch = buffer.sample(state.buffer, sample_key, config.batch_size)
        terminated = batch.terminated.astype(jnp.float32)

        # critics: regress on the soft target of the current policy and the target critics
        next_terms = form.policy(params.actor, state.target_critic, batch.next_obs, next_key)
        target = form.soft_target(batch.reward, terminated, hp.gamma, next_terms, alpha)

        def critic_objective(critic_params):
            q = form.stored_q(critic_params, batch.obs, batch.action)  # (2, B)
            return soft_q_loss(q, target), q[0].mean()

        (loss, q_mean), grads = jax.value_and_grad(critic_objective, has_aux=True)(params.critic)
        updates, critic_opt_state = critic_tx.update(grads, state.critic_opt_state)
        critic_params = optax.apply_updates(params.critic, updates)

        # actor: against the updated critics, alpha held fixed
        def actor_objective(actor_params):
            terms = form.policy(actor_params, critic_params, batch.obs, actor_key)
            return actor_loss(terms.log_pi, terms.q_min, alpha, terms.probs), terms

        (actor_value, terms), grads = jax.value_and_grad(actor_objective, has_aux=True)(
            params.actor
        )
        updates, actor_opt_state = actor_tx.update(grads, state.actor_opt_state)
        actor_params = optax.apply_updates(params.actor, updates)

        # temperature: towards the target entropy, with the log-probabilities the actor just used
        alpha_value, grad = jax.value_and_grad(temperature_loss)(
            params.log_alpha, terms.log_pi, form.target_entropy(hp), terms.probs
        )
        log_alpha, alpha_opt_state = params.log_alpha, state.alpha_opt_state
        if config.autotune:
            update, alpha_opt_state = alpha_tx.update(grad, state.alpha_opt_state)
            log_alpha = optax.apply_updates(params.log_alpha, update)

        state = state.replace(
            params=SACParams(actor_params, critic_params, log_alpha),
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
            "entropy": terms.entropy().mean(),
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
    form = make_form(config, spec)

    def act(exported: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        return env_actions(form.mode(exported["actor"], obs), spec)

    return act


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("sac")
