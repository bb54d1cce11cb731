"""Recurrent PPO: PPO with a GRU (or LSTM) policy for partially observed tasks; results in runs/<env>/ppo_rnn/.

    python -m purejaxrl ppo_rnn --env-id CartPole-v1 --env-options obs_keep=0,2 --num-seeds 8
    python -m purejaxrl ppo_rnn --env-id MemoryChain-bsuite --cell lstm
    python -m purejaxrl.ppo_rnn --env-id Pendulum-v1 --total-timesteps 1000000   # continuous

Its own file rather than an option of ppo.py: the network takes a hidden state and the episode
starts beside the observation, the rollout carries that state, and minibatches are whole
sequences replayed from their stored initial state; as an option, every one of these would be an
`if` inside PPO's update. What is the same is imported from `purejaxrl.ppo`, not copied: the
config (`PPORNNConfig` derives from `PPOConfig`), the objective (`ppo_objective`), the optimizer
(`ppo_optimizer`), the epochs of shuffled minibatches (`ppo_epochs`, here split over the env axis)
and the adaptive KL coefficient; the rollout is `rollout.collect_with_memory`, GAE
`returns.generalized_advantage_estimation`.

When the hidden state is reset (the question peers got wrong: PureJaxRL issues #23 and #29). With
first_t = done_{t-1} (true where obs_t is the first observation of an episode: the previous step
ended one, or the env was just reset), step t computes

    h_{t-1}' = 0 where first_t, else h_{t-1}            (`reset_carry`)
    h_t, y_t = cell(h_{t-1}', embed(obs_t))
    pi(.|o_1..o_t), V(o_1..o_t) = heads(y_t)

so the memory of step t holds exactly the observations of obs_t's own episode up to t. The rollout
keeps (h, first) across rollouts (`PPORNNState.carry`, `.first`); the update replays each env's
sequence of T steps from the h the rollout started with and the stored first flags, which
reproduces the rollout's policy and values (a test checks it across episode boundaries). A
truncated episode's bootstrap value V(final obs) is computed from the hidden state after the
episode's last step, without a reset: the final observation still belongs to that episode.

Reading map, top to bottom:
  PPORNNConfig   PPOConfig's fields plus cell, rnn_size and head_sizes; minibatches split envs
  reset_carry, RecurrentActorCritic  the network: embedding MLP, scanned GRU/LSTM cell, heads
  PPORNNState, SequenceBatch  the learner state; what the loss sees (sequences, env axis 1)
  ppo_rnn_loss   replay from the stored carry, then PPO's objective
  rollout        the rollout with the carried hidden state, and each step's reset flags
  make_learner, make_train, initial_carry, make_policy
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from purejaxrl import envs
from purejaxrl.checks import require
from purejaxrl.distributions import Categorical, DiagGaussian
from purejaxrl.hparams import StaticView, hparams_type
from purejaxrl.learner import Learner, Metrics, episode_metrics, learner_inputs, scan_updates
from purejaxrl.networks import MLP, orthogonal
from purejaxrl.ppo import (
    Batch,
    PPOConfig,
    export_policy,
    mean_kl,
    next_kl_beta,
    ppo_epochs,
    ppo_objective,
    ppo_optimizer,
)
from purejaxrl.returns import generalized_advantage_estimation
from purejaxrl.rollout import RolloutStep, collect_with_memory

CellName = Literal["gru", "lstm"]


@dataclass(frozen=True)
class PPORNNConfig(PPOConfig):
    """Recurrent PPO: PPO (Schulman et al. 2017) with a GRU (Cho et al. 2014) or LSTM (Hochreiter
    and Schmidhuber 1997) policy, trained on whole sequences as in PureJaxRL's ppo_rnn."""

    num_minibatches: int = 4
    """Minibatches per pass, each holding whole sequences of num_envs / num_minibatches envs;
    must divide num_envs."""
    hidden_sizes: tuple[int, ...] = (128,)
    """Widths of the dense layers that embed the observation before the recurrent cell."""
    cell: CellName = "gru"
    """Recurrent cell: gru (flax GRUCell) or lstm (flax OptimizedLSTMCell)."""
    rnn_size: int = 128
    """Width of the cell's hidden state."""
    head_sizes: tuple[int, ...] = (128,)
    """Hidden layer widths of the policy head and of the value head, each on the cell's output."""
    torso: Literal["auto", "mlp"] = "auto"
    """Embedding: an MLP (hidden_sizes) on vector observations; image observations are refused."""

    suite_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    suite_run_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    supports_image_observations: ClassVar[bool] = False

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        if self.num_minibatches >= 1 and self.num_envs >= 1:  # else PPOConfig's checks say so
            require(
                self,
                "num_minibatches",
                self.num_envs % self.num_minibatches == 0,
                f"must divide num_envs = {self.num_envs} (minibatches are whole sequences of envs)",
            )
        spec = super().validate(spec)
        require(self, "cell", self.cell in ("gru", "lstm"), "must be gru or lstm")
        require(self, "rnn_size", self.rnn_size >= 1, "must be >= 1")
        require(self, "head_sizes", all(h >= 1 for h in self.head_sizes), "widths must be >= 1")
        return spec


Config = PPORNNConfig
PPORNNHParams = hparams_type(PPORNNConfig)
"""`hp`: PPORNNConfig's traced fields as float32 arrays (`hp.<field>`), scalars in one run."""


def reset_carry(carry, first: jax.Array):
    """The carry entering a step: zero (the initial state) where `first`, else unchanged.

    Args:
        carry: the cell's state after the previous step, leaves (N, H) (GRU: h; LSTM: (c, h)).
        first: (N,) bool, true where this step's observation is the first of an episode
            (first_t = done_{t-1}).
    """
    return jax.tree.map(lambda c: jnp.where(first[:, None], jnp.zeros_like(c), c), carry)


def zero_carry(cell: CellName, num_envs: int, rnn_size: int):
    """The initial hidden state of `num_envs` envs: zeros, (N, H) for a GRU, a (c, h) pair for an
    LSTM (what flax's `initialize_carry` gives, without its key and input-shape arguments)."""
    h = jnp.zeros((num_envs, rnn_size), jnp.float32)
    return h if cell == "gru" else (h, h)


class ScannedCell(nn.Module):
    """The cell scanned over time: inputs (T, N, F) and first flags (T, N) -> outputs (T, N, H).

    Each step resets the carry where first (`reset_carry`, looked up when traced, so a test can
    swap it), then applies the cell. The cell's parameters are shared by every step.
    """

    cell: CellName
    size: int

    @functools.partial(
        nn.scan, variable_broadcast="params", split_rngs={"params": False}, in_axes=0, out_axes=0
    )
    @nn.compact
    def __call__(self, carry, inputs):
        x, first = inputs  # (N, F), (N,)
        carry = reset_carry(carry, first)
        # orthogonal recurrent kernels from networks.py: flax's own calls LAPACK's QR, which
        # deadlocks when vmapped over seeds on this jaxlib (see networks.orthogonal)
        if self.cell == "gru":
            cell = nn.GRUCell(self.size, recurrent_kernel_init=orthogonal())
        else:
            cell = nn.OptimizedLSTMCell(self.size, recurrent_kernel_init=orthogonal())
        return cell(carry, x)


class RecurrentActorCritic(nn.Module):
    """Embedding MLP -> scanned GRU/LSTM -> a policy head and a value head (separate MLPs).

    `apply(params, carry, obs, first) -> (carry, distribution, value)` with obs (T, N, obs_dim),
    first (T, N) bool and carry leaves (N, H): the carry after the last step, a distribution of
    batch shape (T, N) (Categorical, or DiagGaussian with a state-independent log std), values
    (T, N). Heads initialised as ActorCritic's: policy scale 0.01, value scale 1.
    """

    action_dim: int
    discrete: bool
    hidden_sizes: tuple[int, ...] = (128,)
    cell: CellName = "gru"
    rnn_size: int = 128
    head_sizes: tuple[int, ...] = (128,)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, carry, obs: jax.Array, first: jax.Array):
        x = MLP(self.hidden_sizes, self.activation)(obs)  # (T, N, hidden_sizes[-1])
        carry, y = ScannedCell(self.cell, self.rnn_size)(carry, (x, first))  # y: (T, N, H)
        out = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01))(
            MLP(self.head_sizes, self.activation)(y)
        )
        if self.discrete:
            dist = Categorical(out)
        else:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
            dist = DiagGaussian(out, jnp.broadcast_to(log_std, out.shape))
        value = nn.Dense(1, kernel_init=orthogonal(1.0))(MLP(self.head_sizes, self.activation)(y))
        return carry, dist, value[..., 0]


def make_network(config, spec: envs.EnvSpec) -> RecurrentActorCritic:
    """The `RecurrentActorCritic` of `config` for the env `spec`."""
    discrete = spec.discrete_actions
    action_dim = spec.num_actions if discrete else math.prod(spec.action_space.shape)
    return RecurrentActorCritic(
        action_dim, discrete, config.hidden_sizes, config.cell, config.rnn_size,
        config.head_sizes, config.activation,
    )  # fmt: skip


@struct.dataclass
class PPORNNState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array  # (N, obs_dim) current observation of every env
    carry: Any  # leaves (N, H): the hidden state after the last step taken (not yet reset)
    first: jax.Array  # (N,) bool: obs is the first observation of an episode
    kl_beta: jax.Array  # () current KL penalty coefficient (--loss kl)
    key: jax.Array


class SequenceBatch(struct.PyTreeNode):
    """What the loss sees: whole sequences, the env axis second (minibatches split it).

    steps: `ppo.Batch`, fields (T, n, ...); first: (T, n) bool, the reset flags of each step;
    carry: the hidden state each sequence started from, leaves (1, n, H) (a unit time axis, so
    every leaf splits along axis 1).
    """

    steps: Batch
    first: jax.Array
    carry: Any


def ppo_rnn_loss(
    network: RecurrentActorCritic,
    params,
    batch: SequenceBatch,
    hp: PPORNNHParams,
    kl_beta,
    config: StaticView,
) -> tuple[jax.Array, Metrics]:
    """PPO's objective (`ppo.ppo_objective`: Schulman et al. 2017, eqs. 7-8, with value and
    entropy terms) on whole sequences: the policy and values are recomputed by replaying each
    sequence from its stored initial hidden state with its stored reset flags, so that gradients
    flow through time (backpropagation through time over the T steps of the rollout)."""
    carry = jax.tree.map(lambda c: c[0], batch.carry)  # (n, H)
    _, dist, value = network.apply(params, carry, batch.steps.obs, batch.first)
    return ppo_objective(dist, value, batch.steps, hp, kl_beta, config)


def rollout(env, network, params, state: PPORNNState, num_steps: int):
    """`num_steps` steps of every env with the carried hidden state.

    Returns:
        (state, trajectory, first, carry_after): the state advanced past the rollout (env, obs,
        carry, first, key; parameters untouched), a `RolloutStep` of fields (T, N, ...), the reset
        flags each step was taken with, (T, N) bool, and the hidden state after each step,
        leaves (T, N, H) (what the bootstrap value of a step's final observation starts from).
    """

    def apply(params, obs, first, carry):
        carry, dist, value = network.apply(params, carry, obs[None], first[None])
        return jax.tree.map(lambda x: x[0], dist), value[0], carry

    env_state, obs, first, carry, key, traj, carry_after = collect_with_memory(
        env, apply, params, state.env_state, state.obs, state.first, state.carry, state.key,
        num_steps,
    )  # fmt: skip
    step_first = jnp.concatenate([state.first[None], traj.done[:-1]])  # first_t = done_{t-1}
    state = state.replace(env_state=env_state, obs=obs, first=first, carry=carry, key=key)
    return state, traj, step_first, carry_after


def bootstrap_values(network, params, traj: RolloutStep, carry_after) -> jax.Array:
    """(T, N) V of each step's true next observation, continuing that step's episode: one cell
    step from the hidden state after the step, without a reset (T x N one-step sequences)."""
    t, n = traj.done.shape
    flat_carry = jax.tree.map(lambda c: c.reshape((t * n, *c.shape[2:])), carry_after)
    next_obs = traj.next_obs.reshape((1, t * n, *traj.next_obs.shape[2:]))
    _, _, value = network.apply(params, flat_carry, next_obs, jnp.zeros((1, t * n), bool))
    return value.reshape((t, n))


def make_learner(config: PPORNNConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds recurrent PPO's `Learner` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(
        spec, config.num_envs, normalize_observations=config.normalize_observations
    )
    network = make_network(config, spec)

    def init(key: jax.Array, hp: PPORNNHParams) -> PPORNNState:
        key, net_key, env_key = jax.random.split(key, 3)
        obs, env_state = env.reset(env_key)
        carry = zero_carry(config.cell, config.num_envs, config.rnn_size)
        first = jnp.ones(config.num_envs, bool)  # every env starts an episode
        params = network.init(net_key, carry, obs[None], first[None])
        opt_state = ppo_optimizer(config, hp).init(params)
        return PPORNNState(params, opt_state, env_state, obs, carry, first, hp.kl_beta, key)

    def update(state: PPORNNState, hp: PPORNNHParams) -> tuple[PPORNNState, Metrics]:
        start_carry = state.carry  # leaves (N, H), before the first step's reset
        state, traj, first, carry_after = rollout(
            env, network, state.params, state, config.num_steps
        )  # traj fields: (T, N, ...)
        next_value = bootstrap_values(network, state.params, traj, carry_after)  # (T, N)
        advantage, target = generalized_advantage_estimation(
            traj.reward, traj.value, next_value, traj.terminated, traj.done,
            hp.gamma, hp.gae_lambda,
        )  # fmt: skip
        steps = Batch(
            traj.obs, traj.action, traj.log_prob, traj.value, traj.dist, advantage, target,
            traj.valid,
        )  # fmt: skip
        batch = SequenceBatch(steps, first, jax.tree.map(lambda c: c[None], start_carry))

        def loss(params, minibatch: SequenceBatch):
            return ppo_rnn_loss(network, params, minibatch, hp, state.kl_beta, config)

        key, *epoch_keys = jax.random.split(state.key, config.update_epochs + 1)
        params, opt_state, metrics = ppo_epochs(
            loss, state.params, state.opt_state, ppo_optimizer(config, hp), batch,
            jnp.stack(epoch_keys), config, sample_axis=1,
        )  # fmt: skip
        kl_beta = state.kl_beta
        if config.loss == "kl":  # the new policy on the whole batch, replayed
            _, dist, _ = network.apply(params, start_carry, traj.obs, first)
            update_kl = mean_kl(traj.dist, dist, traj.valid)
            kl_beta = next_kl_beta(kl_beta, update_kl, hp.kl_target, metrics)
        state = state.replace(params=params, opt_state=opt_state, kl_beta=kl_beta, key=key)
        return state, {**episode_metrics(traj.info), **metrics}

    return Learner(init, update, export_policy, config.num_updates, config.batch_size)


def make_train(config: PPORNNConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def initial_carry(config: PPORNNConfig, spec: envs.EnvSpec | None, num_envs: int):
    """The hidden state `make_policy`'s `act` starts `num_envs` episodes from (zeros)."""
    return zero_carry(config.cell, num_envs, config.rnn_size)


def make_policy(config: PPORNNConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key, carry, first) -> (action, carry)`: the deterministic (mode) policy
    of a checkpoint, one step of E envs: obs (E, obs_dim), first (E,) bool (true where obs is an
    episode's first observation: the carry is reset there), carry leaves (E, H)."""
    network = make_network(config, config.env_spec() if spec is None else spec)

    def act(exported: dict, obs: jax.Array, key: jax.Array, carry, first: jax.Array):
        if exported["obs_stats"] is not None:
            obs = exported["obs_stats"].normalize(obs)
        carry, dist, _ = network.apply(exported["params"], carry, obs[None], first[None])
        return dist.mode()[0], carry

    return act


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("ppo_rnn")
