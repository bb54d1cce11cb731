"""AlphaZero on single-agent gymnax MDPs, the environment itself as the search's model; results
in runs/<env>/alphazero_mdp/.

    python -m purejaxrl.alphazero_mdp --env-id CartPole-v1 --num-seeds 8
    python -m purejaxrl alphazero_mdp --policy puct --num-simulations 32
    python benchmarks/alphazero_cartpole.py   # sample efficiency against PPO and DQN

Needs mctx (the `planning` extra). A gymnax environment is a pure function of its state, so a
search can expand a node by stepping the simulator: a node's embedding is the env state, the
edge a -> s' carries the env's reward and the discount gamma (0 into a terminal state). The
network f_theta(s) = (p, v) is trained as in AlphaZero on the search's policy and on value
targets; this file holds what differs from the board games of `purejaxrl.alphazero` (the search
on a gymnax env, continuing rollouts with auto-reset, discounted value targets) and reuses the
rest from there: the network (`AlphaZeroNet` with an unbounded value), the replay `Sample`, the
loss (`alphazero_loss`) and its gradient steps (`learn_from_replay`).

Reading map, top to bottom:
  AlphaZeroMDPConfig  static fields (envs, rollout, search, replay, network) and traced ones
                      (`hp.lr`, gamma, lambda, search noise, L2 coefficient)
  search              one batched mctx search (Gumbel MuZero or PUCT) on the true model
  value_targets       TD(lambda) returns over the search's root values (truncation bootstraps)
  make_learner        init: network, Adam, empty replay, envs; update: a rollout of num_steps
                      searched steps in num_envs envs, its targets into the replay, then
                      gradient_steps minibatch steps
  make_train, make_policy  the whole run; the raw network's greedy action (what `evaluate` plays)
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxrl import envs
from purejaxrl.alphazero import (
    AlphaZeroNet,
    Sample,
    alphazero_loss,
    check_search_learner,
    learn_from_replay,
)
from purejaxrl.checks import require, require_finite_in
from purejaxrl.config import BaseConfig
from purejaxrl.hparams import hparams_type, traced
from purejaxrl.learner import (
    Learner,
    Metrics,
    episode_info,
    episode_metrics,
    learner_inputs,
    scan_updates,
)
from purejaxrl.replay import BufferState, ReplayBuffer
from purejaxrl.returns import generalized_advantage_estimation


@dataclass(frozen=True)
class AlphaZeroMDPConfig(BaseConfig):
    """AlphaZero-style policy improvement by search on the true model of a single-agent gymnax
    env (Silver et al. 2018; with the Gumbel MuZero search of Danihelka et al. 2022)."""

    env_id: str = "CartPole-v1"
    """A single-agent JAX env with discrete actions and vector (or flattened) observations:
    gymnax's (CartPole-v1, Acrobot-v1, MinAtar games, ...) or a probe."""
    total_timesteps: int = 100_000
    """Environment steps per run (summed over parallel envs); the searches' simulated steps are
    not counted."""
    num_envs: int = 16
    """Environments stepped in parallel (one search each per step)."""
    num_steps: int = 16
    """Steps per env in each update's rollout; episodes run on across updates."""
    num_simulations: int = 32
    """Search simulations per env step (each one env step of the model and one network call).
    On CartPole-v1 at 1e5 env steps, 8 seeds, 16 did as well as 32 in half the time (see
    benchmarks/README.md)."""
    policy: Literal["gumbel", "puct"] = "gumbel"
    """The search: gumbel (Gumbel MuZero, `mctx.gumbel_muzero_policy`: the policy target is the
    improved policy softmax(logits + sigma(completed Q)), sound with few simulations) or puct
    (AlphaZero's, `mctx.muzero_policy`: the target is the visit distribution)."""
    max_num_considered_actions: int = 16
    """gumbel: actions sampled without replacement at the root for Sequential Halving."""
    buffer_size: int = 20_000
    """Replay capacity in (observation, policy, value target) samples, FIFO; at least
    num_envs * num_steps."""
    batch_size: int = 256
    """Samples per gradient step, drawn uniformly from the replay."""
    gradient_steps: int = 32
    """Gradient steps after each update's rollout (32 x 256 samples per 256 new ones)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the shared torso of f_theta."""
    value_scale: float = 100.0
    """The value head predicts v / value_scale, and the value loss measures errors in units of
    it: about the largest discounted return (1 / (1 - gamma) for CartPole's reward 1 a step)."""
    lr: float = traced(1e-3)
    """Adam learning rate."""
    gamma: float = traced(0.99)
    """Discount of the search's backups and of the value targets."""
    td_lambda: float = traced(0.8)
    """lambda of the TD(lambda) value targets over the search's root values: 1 gives Monte-Carlo
    returns (bootstrapped where the rollout or a truncated episode ends), 0 one-step targets."""
    gumbel_scale: float = traced(1.0)
    """gumbel: scale of the Gumbel noise of the root's action choice in training (0: greedy)."""
    dirichlet_alpha: float = traced(0.3)
    """puct: concentration of the Dirichlet noise mixed into the root prior in training."""
    dirichlet_fraction: float = traced(0.25)
    """puct: weight of that noise, (1 - f) p + f Dir(alpha)."""
    temperature: float = traced(1.0)
    """puct: actions drawn with probability ~ visits^(1 / temperature); 0 takes the most visited."""
    l2_coef: float = traced(1e-4)
    """c in the loss: an explicit L2 penalty c ||theta||^2 on every parameter."""

    algorithm: ClassVar[str] = "alphazero_mdp"
    """The registry name, for messages."""
    searches_the_env: ClassVar[bool] = True
    """Whether the search steps the raw env (so env options that change its observations are
    refused); false for `purejaxrl.muzero`, whose model is learned."""

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require(
            self, "env_id", spec.suite in ("gymnax", "probe") and spec.discrete_actions,
            f"{self.algorithm} searches single-agent JAX envs with discrete actions (gymnax or "
            "a probe); for board games use alphazero",
        )  # fmt: skip
        require(
            self, "policy", importlib.util.find_spec("mctx") is not None,
            "the search needs mctx: pip install 'purejaxrl[planning]'",
        )  # fmt: skip
        require(
            self, "env_options", not self.searches_the_env or not self.env_options,
            "the search steps the raw env, so the observation must be the env's own: no options",
        )  # fmt: skip
        require(self, "max_num_considered_actions", self.max_num_considered_actions >= 1,
                "must be >= 1")  # fmt: skip
        require_finite_in(self, "value_scale", 0.0, math.inf, open_low=True)
        require_finite_in(self, "gamma", 0.0, 1.0)
        require_finite_in(self, "td_lambda", 0.0, 1.0)
        require_finite_in(self, "gumbel_scale", 0.0, math.inf)
        check_search_learner(self)
        return spec


Config = AlphaZeroMDPConfig
AlphaZeroMDPHParams = hparams_type(AlphaZeroMDPConfig)
"""`hp`: AlphaZeroMDPConfig's traced fields as float32 arrays, scalars in one run."""


class Node(struct.PyTreeNode):
    """A search node's embedding: the simulator's state, and whether an earlier edge of its
    path ended the episode (below a terminal state every edge pays 0 and discounts by 0)."""

    env_state: Any  # the raw gymnax env state, leading axis B
    done: jax.Array  # (B,) bool


def search(
    network: AlphaZeroNet,
    env,
    env_params,
    params,
    key: jax.Array,
    obs: jax.Array,
    env_state,
    num_simulations: int,
    *,
    gamma,
    **settings,
):
    """One batched search from B env states, the env as the model (`mctx`).

    Expanding action a at a node steps its state with the env's `step_env`: the transition
    without gymnax's auto-reset and without the time limit (truncation is not a property of the
    state, so the search values states as if the episode went on). The edge's reward is the
    env's; its discount is gamma, or 0 if the step terminated the episode, and the network's
    value there is replaced by 0. mctx backs up Q(s, a) = r + discount * V(s'), so a node's value
    is the discounted sum of env rewards along the simulated path plus gamma^depth times the
    leaf's network value. Below a terminal state (the search may still expand it), edges pay 0
    and discount by 0, whatever `step_env` would do with a finished state. Stochastic envs are
    sampled once per expansion (a fresh key each time) and that sample is kept.

    Args:
        obs: (B, D) the flattened observations of `env_state` (what the network reads).
        env_state: the raw env state (not the training stack's wrappers), leading axis B.
        num_simulations: static.
        gamma: the discount.
        settings: `run_search`'s keywords: the search and its noise (none: Gumbel, greedy).

    Returns:
        mctx `PolicyOutput`: `action` (B,), `action_weights` (B, A) the policy target,
        `search_tree` (its `summary().value` (B,) is the root's value estimate).
    """
    import mctx

    batch = obs.shape[0]
    chex.assert_rank(obs, 2)

    def recurrent_fn(params_, key_, action, node: Node):
        keys = jax.random.split(key_, batch)
        next_obs, next_state, reward, terminated, _ = jax.vmap(
            env.step_env, in_axes=(0, 0, 0, None)
        )(keys, node.env_state, action, env_params)
        logits, value = network.apply(params_, next_obs.reshape((batch, -1)))
        live = ~node.done  # (B,) the edge starts below no terminal state
        ends = node.done | terminated
        output = mctx.RecurrentFnOutput(
            reward=jnp.where(live, reward, 0.0).astype(jnp.float32),
            discount=jnp.where(ends, 0.0, gamma).astype(jnp.float32),
            prior_logits=logits,
            value=jnp.where(ends, 0.0, value),
        )
        return output, Node(next_state, ends)

    logits, value = network.apply(params, obs)
    root = mctx.RootFnOutput(
        prior_logits=logits, value=value, embedding=Node(env_state, jnp.zeros(batch, bool))
    )
    return run_search(params, key, root, recurrent_fn, num_simulations, **settings)


def run_search(
    params,
    key: jax.Array,
    root,
    recurrent_fn,
    num_simulations: int,
    *,
    policy: str = "gumbel",
    max_num_considered_actions: int = 16,
    gumbel_scale=0.0,
    dirichlet_alpha=0.3,
    dirichlet_fraction=0.0,
    temperature=0.0,
):
    """mctx's Gumbel MuZero search (`policy="gumbel"`) or its PUCT search ("puct") from `root`
    (`mctx.RootFnOutput`) with the model `recurrent_fn` (`search` here, `purejaxrl.muzero`'s
    with a learned model).

    Args:
        num_simulations, policy, max_num_considered_actions: static.
        gumbel_scale: gumbel: noise of the root's action choice (0: the best action).
        dirichlet_alpha, dirichlet_fraction, temperature: puct, as in `alphazero.search`.
        The defaults: no noise, the best (gumbel) or most visited (puct) action.
    """
    import mctx

    if policy == "gumbel":
        return mctx.gumbel_muzero_policy(
            params, key, root, recurrent_fn, num_simulations,
            max_num_considered_actions=max_num_considered_actions, gumbel_scale=gumbel_scale,
        )  # fmt: skip
    return mctx.muzero_policy(
        params, key, root, recurrent_fn, num_simulations, dirichlet_alpha=dirichlet_alpha,
        dirichlet_fraction=dirichlet_fraction, temperature=temperature,
    )  # fmt: skip


def training_search(config: AlphaZeroMDPConfig, hp) -> dict:
    """The search's settings in training (`search`'s and `run_search`'s keyword arguments other
    than gamma): the config's policy and its noise, from `hp`."""
    return dict(
        policy=config.policy,
        max_num_considered_actions=config.max_num_considered_actions,
        gumbel_scale=hp.gumbel_scale,
        dirichlet_alpha=hp.dirichlet_alpha,
        dirichlet_fraction=hp.dirichlet_fraction,
        temperature=hp.temperature,
    )


def value_targets(
    r_t: jax.Array,
    terminated_t: jax.Array,
    done_t: jax.Array,
    v_t: jax.Array,
    v_final_t: jax.Array,
    gamma,
    lambda_,
) -> jax.Array:
    """TD(lambda) value targets z_t of a rollout, over the search's root values.

    MuZero (Schrittwieser et al. 2020, "Mastering Atari, Go, Chess and Shogi by Planning with a
    Learned Model", appendix G) regresses v on n-step returns bootstrapped with the search's
    root value n steps on; here the n-step returns are mixed geometrically, TD(lambda)
    (Sutton and Barto 2018, section 12.1):

        z_t = r_t + gamma (1 - terminated_t) [(1 - lambda) V_{t+1} + lambda z_{t+1}],

    with the trace cut where the episode ended. V_{t+1} is the search's root value at s_{t+1}
    where the episode goes on within the rollout, and `v_final_t` (the network's value of the
    true next observation, `info["final_observation"]`) where it was truncated or the rollout
    ends; a terminated episode bootstraps nothing (gymnax's auto-reset state is not s_{t+1}).

    Args:
        r_t, terminated_t, done_t: (T, N) rewards and whether step t terminated / ended
            (terminated or truncated) the episode.
        v_t: (T, N) the search's root value at s_t.
        v_final_t: (T, N) the network's value of the observation step t led to, before reset.
        gamma, lambda_: discount and trace parameter.

    Returns:
        z (T, N).
    """
    chex.assert_equal_shape([r_t, terminated_t, done_t, v_t, v_final_t])
    v_next = jnp.concatenate([v_t[1:], v_final_t[-1:]], axis=0)  # (T, N) V(s_{t+1}) if not done
    v_tp1 = jnp.where(done_t, v_final_t, v_next)
    _, z = generalized_advantage_estimation(
        r_t, v_t, v_tp1, terminated_t, done_t, gamma, lambda_
    )  # GAE's returns are exactly these lambda-returns
    return z


class AlphaZeroMDPState(struct.PyTreeNode):
    params: Any
    opt_state: Any
    replay: BufferState  # of `Sample`s (obs, search policy, value target), capacity buffer_size
    env_state: Any  # the training stack's state, (num_envs, ...)
    obs: jax.Array  # (num_envs, D) the current observations
    key: jax.Array


def make_network(config, spec: envs.EnvSpec) -> AlphaZeroNet:
    return AlphaZeroNet(
        spec.num_actions,
        tuple(config.hidden_sizes),
        obs_ndim=1,
        bounded_value=False,
        value_scale=float(config.value_scale),
    )


def make_learner(config: AlphaZeroMDPConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds the `Learner` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    raw_env, env_params = envs.make(config.env_id)
    env_params = envs.registry.env_parameters(env_params, dict(spec.options))  # e.g. lengths
    env = envs.make_batched(spec, config.num_envs)
    network = make_network(config, spec)
    buffer = ReplayBuffer(config.buffer_size)
    num_envs, num_steps = config.num_envs, config.num_steps

    def optimizer(hp: AlphaZeroMDPHParams) -> optax.GradientTransformation:
        return optax.adam(hp.lr)

    def init(key: jax.Array, hp: AlphaZeroMDPHParams) -> AlphaZeroMDPState:
        key, net_key, env_key = jax.random.split(key, 3)
        obs, env_state = env.reset(env_key)
        params = network.init(net_key, obs)
        example = Sample(obs[0], jnp.zeros(spec.num_actions, jnp.float32), jnp.float32(0.0))
        replay = buffer.init(example)
        return AlphaZeroMDPState(params, optimizer(hp).init(params), replay, env_state, obs, key)

    def rollout(params, env_state, obs, key, hp: AlphaZeroMDPHParams):
        """num_steps searched steps of every env; leaves (T, N, ...)."""

        def step(carry, key):
            env_state, obs = carry
            search_key, env_key = jax.random.split(key)
            out = search(
                network, raw_env, env_params, params, search_key, obs,
                env_state.env_state,  # EpisodeStatistics' inner state: the raw env's
                config.num_simulations, gamma=hp.gamma, **training_search(config, hp),
            )  # fmt: skip
            next_obs, env_state, reward, terminated, truncated, info = env.step(
                env_key, env_state, out.action
            )
            leaves = {
                "obs": obs,
                "policy": out.action_weights,
                "reward": reward,
                "terminated": terminated,
                "done": terminated | truncated,
                "root_value": out.search_tree.summary().value,
                "final_obs": info["final_observation"],
                "info": episode_info(info),
            }
            return (env_state, next_obs), leaves

        (env_state, obs), trajectory = jax.lax.scan(
            step, (env_state, obs), jax.random.split(key, num_steps)
        )
        return env_state, obs, trajectory

    def update(
        state: AlphaZeroMDPState, hp: AlphaZeroMDPHParams
    ) -> tuple[AlphaZeroMDPState, Metrics]:
        key, play_key, sample_key = jax.random.split(state.key, 3)
        env_state, obs, traj = rollout(state.params, state.env_state, state.obs, play_key, hp)
        _, v_final = network.apply(state.params, traj["final_obs"])  # (T, N)
        z = value_targets(
            traj["reward"], traj["terminated"], traj["done"], traj["root_value"], v_final,
            hp.gamma, hp.td_lambda,
        )  # fmt: skip
        samples = Sample(traj["obs"], traj["policy"], z)
        samples = jax.tree.map(lambda x: x.reshape((num_envs * num_steps, *x.shape[2:])), samples)
        replay = buffer.add(state.replay, samples)
        params, opt_state, losses = learn_from_replay(
            lambda params, batch: alphazero_loss(network, params, batch, hp.l2_coef),
            optimizer(hp), buffer, replay, state.params, state.opt_state, sample_key,
            config.batch_size, config.gradient_steps,
        )  # fmt: skip
        metrics = {
            **episode_metrics(traj["info"]),
            "search_value": traj["root_value"].mean(),
            "value_target": z.mean(),
            **losses,
        }
        new_state = AlphaZeroMDPState(params, opt_state, replay, env_state, obs, key)
        return new_state, metrics

    def export(state: AlphaZeroMDPState) -> dict:
        return {"params": state.params}

    return Learner(init, update, export, config.num_updates, config.steps_per_update)


def make_train(config: AlphaZeroMDPConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: AlphaZeroMDPConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: the raw network's most probable action, no search
    (`evaluate` sees observations only, not the simulator states a search needs)."""
    config, spec = learner_inputs(config, spec)
    network = make_network(config, spec)

    def act(exported, obs, key):
        del key
        logits, _ = network.apply(exported["params"], obs)
        return jnp.argmax(logits, axis=-1)

    return act


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("alphazero_mdp")
