"""GAIL: imitation by a discriminator whose output is PPO's reward; results in runs/<env>/gail/.

    purejaxrl collect runs/CartPole-v1/ppo/<time> --out data/cartpole-expert --split expert
    python -m purejaxrl.gail --dataset data/cartpole-expert --expert-episodes 10 --num-seeds 8
    python -m purejaxrl.gail --env-id Pendulum-v1 --dataset data/pendulum-expert ...
    python -m purejaxrl.gail --dataset random       # imitates a random policy made on the spot

Generative adversarial imitation learning (Ho and Ermon 2016, "Generative Adversarial Imitation
Learning"): a discriminator D(s, a), the probability that the pair (s, a) came from the expert,
is trained by binary cross-entropy to tell the expert's transitions (a dataset of N expert
episodes) from the policy's; the policy is trained by an RL algorithm, here PPO (the paper used
TRPO), on a reward that is high where D believes the pair is the expert's. The env's reward never
reaches the learner: PPO's rollout collects the env's transitions, the rewards are replaced by the
discriminator's, and only then does PPO's learning step see them (`ppo.make_parts`). The
`episode_return` of the curves is still the env's own return, so runs compare with PPO's.

One update: a PPO rollout of num_envs x num_steps steps; disc_epochs passes over it in
disc_minibatches minibatches, each paired with as many expert transitions drawn uniformly from
the dataset, one Adam step of the discriminator per minibatch (Ho and Ermon's Algorithm 1 takes
one step per iteration); the rollout's rewards from the updated discriminator; PPO's epochs.

The reward (`gail_reward`), `reward_form`:
  softplus  r = -log(1 - D(s, a)) = softplus(logit): positive; the form most implementations
            train the generator with (Ho and Ermon's cost log D with D the policy's probability
            makes the same fixed point). Its positive value rewards surviving, which suits
            CartPole (Kostrikov et al. 2019, "Discriminator-Actor-Critic", section 4.1, discuss
            this bias).
  logit     r = log D - log(1 - D) = logit, the reward of AIRL (Fu et al. 2018) without its
            shaping term: the log density ratio of expert to policy, of either sign.

Discrete actions enter D one-hot; continuous ones as the env executes them (clipped to the Box),
scaled to [-1, 1]. Observations enter raw: `normalize_observations` is refused (the dataset's
observations are the env's own, and the policy's would then be normalised).

Reading map, top to bottom:
  GAILConfig      PPO's fields, plus the dataset, the number of expert episodes and the
                  discriminator's (traced disc_lr)
  discriminator_loss, gail_reward   the binary cross-entropy and the reward from D's logit
  make_learner    PPO's parts (`ppo.make_parts`) with the discriminator step between its
                  rollout and its learning step
  make_policy     PPO's greedy policy
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxrl import datasets, envs, ppo
from purejaxrl.checks import require, require_finite_in
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import Learner, Metrics, learner_inputs, scan_updates
from purejaxrl.networks import ActivationName, Critic, make_actor_critic_sampler
from purejaxrl.offline import check_dataset, dataset_facts, load_dataset


@dataclass(frozen=True)
class GAILConfig(ppo.PPOConfig):
    """Generative adversarial imitation learning (Ho and Ermon 2016), PPO as the generator.

    The PPO fields are PPOConfig's; PPO learns from the discriminator's reward, never the env's.
    """

    dataset: str = ""
    """The expert dataset folder (`purejaxrl collect ... --out PATH`), or `random`:
    random_dataset_steps steps of a uniformly random policy, made from --seed."""
    random_dataset_steps: int = 10_000
    """With --dataset random: its size, in transitions."""
    expert_episodes: int = 0
    """Imitate the first N complete episodes of the dataset (in its row order); 0: all its
    transitions."""
    reward_form: Literal["softplus", "logit"] = "softplus"
    """The policy's reward from the discriminator's logit: softplus, -log(1 - D) (positive);
    logit, log D - log(1 - D)."""
    disc_hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the discriminator."""
    disc_activation: ActivationName = "tanh"
    """The discriminator's hidden activation."""
    disc_epochs: int = 1
    """Passes of the discriminator over each rollout."""
    disc_minibatches: int = 4
    """Minibatches per pass, each with as many expert transitions; must divide num_envs *
    num_steps."""
    disc_lr: float = traced(3e-4)
    """The discriminator's Adam learning rate."""

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require(self, "env_id", spec.vmappable, "GAIL's expert data comes from JAX envs only")
        require(
            self, "normalize_observations", not self.normalize_observations,
            "the discriminator compares raw observations with the dataset's; leave it off",
        )  # fmt: skip
        check_dataset(self, spec)
        require(self, "expert_episodes", self.expert_episodes >= 0, "must be >= 0 (0: all)")
        if self.expert_episodes:
            count = len(datasets.complete_episodes(load_dataset(self, spec)))
            require(
                self, "expert_episodes", self.expert_episodes <= count,
                f"{self.dataset} holds {count} complete episodes (0: all its transitions)",
            )  # fmt: skip
        for name in ("disc_epochs", "disc_minibatches"):
            require(self, name, getattr(self, name) >= 1, "must be >= 1")
        require(
            self, "disc_minibatches", self.batch_size % self.disc_minibatches == 0,
            f"must divide num_envs * num_steps = {self.batch_size}",
        )  # fmt: skip
        require(self, "disc_hidden_sizes", all(h >= 1 for h in self.disc_hidden_sizes),
                "widths must be >= 1")  # fmt: skip
        require_finite_in(self, "disc_lr", 0.0, math.inf, open_low=True)
        return spec

    def checkpoint_facts(self) -> dict:
        return dataset_facts(self)


Config = GAILConfig
GAILHParams = hparams_type(GAILConfig)
"""`hp`: GAILConfig's traced fields (PPO's and disc_lr) as float32 arrays."""


def expert_data(config, spec: envs.EnvSpec) -> datasets.Dataset:
    """The config's dataset (`offline.load_dataset`), cut to its first expert_episodes complete
    episodes when that is not 0."""
    dataset = load_dataset(config, spec)
    if config.expert_episodes:
        return datasets.first_episodes(dataset, config.expert_episodes, config.dataset)
    return dataset


def discriminator_loss(expert_logit: jax.Array, policy_logit: jax.Array) -> jax.Array:
    """-E_expert[log D(s, a)] - E_policy[log(1 - D(s, a))], D = sigmoid(logit): the binary
    cross-entropy the discriminator minimises, expert pairs labelled 1 (Ho and Ermon 2016, eq. 16,
    its D read as the expert's probability).

    Args:
        expert_logit: (B,) D's logits on expert pairs. policy_logit: (B,) on the policy's.
    """
    chex.assert_rank([expert_logit, policy_logit], 1)
    return (
        optax.sigmoid_binary_cross_entropy(expert_logit, jnp.ones_like(expert_logit)).mean()
        + optax.sigmoid_binary_cross_entropy(policy_logit, jnp.zeros_like(policy_logit)).mean()
    )


def gail_reward(logit: jax.Array, form: str = "softplus") -> jax.Array:
    """The policy's reward from D's logit (any shape), increasing in D:
    softplus: -log(1 - D) = softplus(logit); logit: log D - log(1 - D) = logit. No gradient."""
    reward = jax.nn.softplus(logit) if form == "softplus" else logit
    return jax.lax.stop_gradient(reward)


class DiscSchedule(NamedTuple):
    """The discriminator's passes, in the fields `ppo.ppo_epochs` reads."""

    update_epochs: int
    num_minibatches: int


@struct.dataclass
class GAILState:
    ppo: ppo.PPOState
    disc_params: Any
    disc_opt_state: Any
    key: jax.Array  # the discriminator's: shuffles and expert draws


def action_features(spec: envs.EnvSpec):
    """`features(action (..., *action_shape)) -> (..., F)`: one-hot for discrete actions; for a
    Box, the action clipped to it (what the env executes) and scaled to [-1, 1]."""
    if spec.discrete_actions:
        return lambda action: jax.nn.one_hot(action, spec.num_actions)
    space = spec.action_space
    low, high = jnp.asarray(space.low, jnp.float32), jnp.asarray(space.high, jnp.float32)
    size = math.prod(space.shape)

    def features(action):
        scaled = (jnp.clip(action, low, high) - (low + high) / 2) / ((high - low) / 2)
        return scaled.reshape((*scaled.shape[: scaled.ndim - len(space.shape)], size))

    return features


def make_learner(config: GAILConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds GAIL's `Learner` for `config` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    parts = ppo.make_parts(config, spec)
    expert = expert_data(config, spec)
    expert_obs = jnp.asarray(expert.observations)  # (M, *obs_shape) constants
    expert_actions = jnp.asarray(expert.actions)  # (M, *action_shape)
    rows = len(expert)
    features = action_features(spec)
    disc = Critic(config.disc_hidden_sizes, config.disc_activation)
    schedule = DiscSchedule(config.disc_epochs, config.disc_minibatches)

    def logit(params, obs, action):
        return disc.apply(params, obs, features(action))

    def init(key: jax.Array, hp: GAILHParams) -> GAILState:
        key, ppo_key, disc_key = jax.random.split(key, 3)
        params = disc.init(disc_key, expert_obs[:1], features(expert_actions[:1]))
        return GAILState(parts.init(ppo_key, hp), params, optax.adam(hp.disc_lr).init(params), key)

    def update(state: GAILState, hp: GAILHParams) -> tuple[GAILState, Metrics]:
        ppo_state, traj = parts.rollout(state.ppo)  # traj fields (T, N, ...)
        key, draw_key, *epoch_keys = jax.random.split(state.key, config.disc_epochs + 2)
        flat = (config.batch_size,)
        batch = {
            "obs": traj.obs.reshape((*flat, *traj.obs.shape[2:])),
            "action": traj.action.reshape((*flat, *traj.action.shape[2:])),
            "expert": jax.random.randint(draw_key, flat, 0, rows),  # expert rows paired with them
        }

        def loss(params, minibatch):
            index = minibatch["expert"]
            expert_logit = logit(params, expert_obs[index], expert_actions[index])
            policy_logit = logit(params, minibatch["obs"], minibatch["action"])
            value = discriminator_loss(expert_logit, policy_logit)
            return value, {
                "disc_loss": value,
                "disc_expert_accuracy": (expert_logit > 0).mean(),
                "disc_policy_accuracy": (policy_logit < 0).mean(),
            }

        disc_params, disc_opt_state, disc_metrics = ppo.ppo_epochs(
            loss, state.disc_params, state.disc_opt_state, optax.adam(hp.disc_lr), batch,
            jnp.stack(epoch_keys), schedule,
        )  # fmt: skip
        reward = gail_reward(logit(disc_params, traj.obs, traj.action), config.reward_form)
        ppo_state, metrics = parts.learn(ppo_state, traj._replace(reward=reward), hp)
        metrics = {**metrics, **disc_metrics, "gail_reward": reward.mean()}
        return GAILState(ppo_state, disc_params, disc_opt_state, key), metrics

    return Learner(init, update, export_policy, config.num_updates, config.batch_size)


def export_policy(state: GAILState) -> dict:
    """What `make_policy`'s act reads: the PPO policy's parameters (`ppo.export_policy`)."""
    return ppo.export_policy(state.ppo)


def make_train(config: GAILConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


make_policy = ppo.make_policy
"""`act(exported, obs, key) -> action`: the mode of the PPO policy."""
make_sampling_policy = make_actor_critic_sampler
"""`act(exported, obs, key) -> action`: a sample of the PPO policy."""


def dataset_report(result) -> str | None:
    """The line printed after the table: the expert data GAIL imitated and its own mean return."""
    config = result.config
    expert = expert_data(config, config.env_spec())
    return f"expert data: {config.dataset}, {len(expert):,} transitions, {expert.episodes_text()}"


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("gail")
