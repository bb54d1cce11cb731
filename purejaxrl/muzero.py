"""MuZero: search with a learned model on single-agent gymnax envs; results in runs/<env>/muzero/.

    python -m purejaxrl.muzero --env-id CartPole-v1 --num-seeds 4
    python -m purejaxrl muzero --unroll-steps 5 --num-simulations 16 --lr 1e-3 3e-4
    python benchmarks/alphazero_cartpole.py --only muzero --num-seeds 8 --out muzero_cartpole

Needs mctx (the `planning` extra). Where `purejaxrl.alphazero_mdp` searches with the simulator,
MuZero (Schrittwieser et al. 2020, "Mastering Atari, Go, Chess and Shogi by Planning with a
Learned Model") searches with three learned functions: a representation h(o) -> s^0, a dynamics
g(s^k, a) -> (r^{k+1}, s^{k+1}) and a prediction f(s^k) -> (p^k, v^k). The search's nodes are
latent states; the model knows no terminal states (every edge discounts by gamma) and has to
learn that an episode's end is absorbing (reward 0, value 0 after it) from its targets. The three
are trained together by unrolling the dynamics K steps along stored trajectories against the
observed rewards, the search's policies and n-step value targets (here TD(lambda) over the
search's root values, `alphazero_mdp.value_targets`).

What is shared: the acting loop's shape, the TD(lambda) targets, the search call
(`alphazero_mdp.run_search`) and the config fields of `alphazero_mdp`; the prediction network
is `alphazero.AlphaZeroNet` read on the latent state, and the gradient steps are
`alphazero.learn_from_replay` with `muzero_loss`.

Reading map, top to bottom:
  MuZeroConfig     alphazero_mdp's fields plus the unroll length K and the latent size
  MuZeroNet        h, g, f; latent states min-max normalised to [0, 1] (the paper's appendix G)
  search           one batched mctx search with the learned model
  UnrollSample, unroll_samples  the replay's entries: an observation, the K actions that
                   followed, and the targets of each unroll step with their masks
  muzero_loss      the loss summed over the unroll
  make_learner     init: network, Adam, empty replay, envs; update: a rollout of num_steps
                   searched steps, unroll samples of the previous rollout (whose K following
                   steps are now known) into the replay, then gradient_steps minibatch steps
  make_train, make_policy  the whole run; the search with the learned model, greedy (what
                   `evaluate` plays: it needs observations only)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from purejaxrl import envs
from purejaxrl.alphazero import AlphaZeroNet, learn_from_replay
from purejaxrl.alphazero_mdp import (
    AlphaZeroMDPConfig,
    run_search,
    training_search,
    value_targets,
)
from purejaxrl.checks import require, require_finite_in
from purejaxrl.hparams import hparams_type
from purejaxrl.learner import (
    Learner,
    Metrics,
    episode_info,
    episode_metrics,
    learner_inputs,
    scan_updates,
)
from purejaxrl.networks import MLP
from purejaxrl.replay import BufferState, ReplayBuffer


@dataclass(frozen=True)
class MuZeroConfig(AlphaZeroMDPConfig):
    """MuZero (Schrittwieser et al. 2020): search with a learned model of a single-agent gymnax
    env, the model trained on K-step unrolls. The other fields are alphazero_mdp's; where they
    speak of the env as the model, here it is the learned dynamics."""

    num_simulations: int = 32
    """Search simulations per env step, each one call of the dynamics and the prediction."""
    buffer_size: int = 20_000
    """Replay capacity in unroll samples (an observation, the K actions after it and their
    targets), FIFO; at least num_envs * num_steps."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of each of the three networks (representation, dynamics, prediction)."""
    latent_size: int = 64
    """Width of the latent state s^k."""
    unroll_steps: int = 5
    """K: the dynamics are unrolled K steps from each sampled observation in the loss; at most
    num_steps (a rollout's samples wait for the next rollout's first K steps)."""

    algorithm: ClassVar[str] = "muzero"
    searches_the_env: ClassVar[bool] = False

    def validate(self, spec: envs.EnvSpec | None = None) -> envs.EnvSpec:
        spec = super().validate(spec)
        require(self, "latent_size", self.latent_size >= 2, "must be >= 2 (min-max scaling)")
        require(
            self, "unroll_steps", 1 <= self.unroll_steps <= self.num_steps,
            f"must be in 1 .. num_steps = {self.num_steps}",
        )  # fmt: skip
        require_finite_in(self, "value_scale", 0.0, math.inf, open_low=True)
        return spec


Config = MuZeroConfig
MuZeroHParams = hparams_type(MuZeroConfig)
"""`hp`: MuZeroConfig's traced fields as float32 arrays, scalars in one run."""


def min_max_normalise(s: jax.Array) -> jax.Array:
    """(s - min s) / (max s - min s) over the last axis (the paper's appendix G: the hidden
    state is scaled to [0, 1] as the representation's and the dynamics' output); a constant s
    gives 0."""
    low = s.min(axis=-1, keepdims=True)
    high = s.max(axis=-1, keepdims=True)
    return (s - low) / jnp.maximum(high - low, 1e-8)


def scale_gradient(x: jax.Array, scale: float) -> jax.Array:
    """x forward; its gradient times `scale` backward."""
    return x * scale + jax.lax.stop_gradient(x) * (1.0 - scale)


class MuZeroNet(nn.Module):
    """h, g and f of MuZero as MLPs; methods `represent`, `dynamics`, `predict`.

    h(o) = s^0 and g(s^k, a) = (r^{k+1}, s^{k+1}), with s^{k+1} from an MLP of
    [s^k, one_hot(a)]; latent states are min-max normalised. f is `AlphaZeroNet` on s^k: policy
    logits and an unbounded value `value_scale * u`.
    """

    num_actions: int
    hidden_sizes: tuple[int, ...] = (64, 64)
    latent_size: int = 64
    value_scale: float = 1.0

    def setup(self):
        self.representation = MLP(self.hidden_sizes, "relu")
        self.representation_out = nn.Dense(self.latent_size)
        self.dynamics_torso = MLP(self.hidden_sizes, "relu")
        self.dynamics_out = nn.Dense(self.latent_size)
        self.reward_head = nn.Dense(1)
        self.prediction = AlphaZeroNet(
            self.num_actions,
            self.hidden_sizes,
            obs_ndim=1,
            bounded_value=False,
            value_scale=self.value_scale,
        )

    def represent(self, obs: jax.Array) -> jax.Array:
        """(B, ...) observations -> (B, L) latent states."""
        flat = obs.reshape((obs.shape[0], -1)).astype(jnp.float32)
        return min_max_normalise(self.representation_out(self.representation(flat)))

    def dynamics(self, latent: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(B, L) latent states, (B,) actions -> (B,) rewards, (B, L) next latent states."""
        x = jnp.concatenate([latent, jax.nn.one_hot(action, self.num_actions)], axis=-1)
        x = self.dynamics_torso(x)
        return self.reward_head(x)[..., 0], min_max_normalise(self.dynamics_out(x))

    def predict(self, latent: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(..., L) latent states -> (..., A) policy logits, (...) values."""
        return self.prediction(latent)

    def __call__(self, obs: jax.Array, action: jax.Array):
        """Every function once (what `init` traces)."""
        latent = self.represent(obs)
        reward, next_latent = self.dynamics(latent, action)
        return self.predict(next_latent), reward


def search(
    network: MuZeroNet,
    params,
    key: jax.Array,
    obs: jax.Array,
    num_simulations: int,
    *,
    gamma,
    **settings,
):
    """One batched search from B observations with the learned model (`mctx`).

    The root's embedding is h(o); expanding action a at a node with latent s steps the dynamics,
    g(s, a) = (r, s'), and reads f(s') = (p', v'). Every edge pays the model's r and discounts by
    gamma: the model has no notion of a terminal state (MuZero's), it must predict the zeros
    that follow an episode's end.

    Args:
        obs: (B, ...) observations.
        num_simulations: static.
        gamma: the discount of every edge.
        settings: `alphazero_mdp.run_search`'s keywords: the search (policy and
            max_num_considered_actions, static) and its noise; none given: Gumbel, greedy.

    Returns:
        mctx `PolicyOutput`: `action` (B,), `action_weights` (B, A) the policy target,
        `search_tree` (its `summary().value` (B,) is the root's value estimate).
    """
    import mctx

    latent = network.apply(params, obs, method=MuZeroNet.represent)
    logits, value = network.apply(params, latent, method=MuZeroNet.predict)

    def recurrent_fn(params_, key_, action, latent):
        del key_
        reward, next_latent = network.apply(params_, latent, action, method=MuZeroNet.dynamics)
        logits, value = network.apply(params_, next_latent, method=MuZeroNet.predict)
        output = mctx.RecurrentFnOutput(
            reward=reward,
            discount=jnp.full_like(reward, gamma),
            prior_logits=logits,
            value=value,
        )
        return output, next_latent

    root = mctx.RootFnOutput(prior_logits=logits, value=value, embedding=latent)
    return run_search(params, key, root, recurrent_fn, num_simulations, **settings)


class UnrollSample(struct.PyTreeNode):
    """One replay entry: an observation o_t, the K actions taken after it, and the targets of
    each unroll step k (k = 0 .. K for value and policy, 1 .. K for the reward) with their
    weights (1 where the loss counts, 0 where it is masked); a batch adds a leading axis B."""

    obs: jax.Array  # (*obs_shape) o_t
    actions: jax.Array  # (K,) int32, a_t .. a_{t+K-1}
    rewards: jax.Array  # (K,) u_{t+1} .. u_{t+K}, the targets of r^1 .. r^K
    values: jax.Array  # (K+1,) z_t .. z_{t+K}, the targets of v^0 .. v^K
    policies: jax.Array  # (K+1, A) pi_t .. pi_{t+K}, the targets of p^0 .. p^K
    reward_mask: jax.Array  # (K,)
    value_mask: jax.Array  # (K+1,)
    policy_mask: jax.Array  # (K+1,)


def unroll_samples(
    obs: jax.Array,
    action: jax.Array,
    reward: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    policy: jax.Array,
    z: jax.Array,
    unroll_steps: int,
) -> UnrollSample:
    """The unroll samples of the first W - K steps of a stretch of W steps of N envs.

    Sample (t, n) unrolls the actions a_t .. a_{t+K-1} of env n. While the episode of o_t goes
    on, unroll step k's targets are the observed reward r_{t+k-1}, the value target z_{t+k} and
    the search policy pi_{t+k}. Past the end of that episode (the actions are then those of the
    next one, and the latent state stands for no real state):
      - the policy loss is masked;
      - after a termination the targets are absorbing: reward 0 and value 0 (MuZero's treatment
        of steps past the end of a game), so the model learns that nothing follows an end;
      - after a truncation (a time limit) the episode would have gone on, its value is not 0,
        and the reward and value losses are masked too.

    Args:
        obs: (W, N, ...) observations o_t.
        action, reward, terminated, done: (W, N) a_t, r_t, and whether step t terminated / ended
            (terminated or truncated) its episode.
        policy: (W, N, A) the search policies pi_t.
        z: (W, N) the value targets of o_t.
        unroll_steps: K (static), at most W - 1.

    Returns:
        `UnrollSample` with leading axes (W - K, N).
    """
    chex.assert_equal_shape([action, reward, terminated, done, z])
    k_steps = unroll_steps
    num = obs.shape[0] - k_steps
    index = jnp.arange(num)[:, None] + jnp.arange(k_steps + 1)  # (T, K+1): t + k

    def window(x):  # (W, N, ...) -> (T, N, K+1, ...)
        return jnp.moveaxis(x[index], 1, 2)

    ended = window(done)[..., :k_steps]  # (T, N, K): step t + k ended the episode
    ends_here = ended & window(terminated)[..., :k_steps]
    before = jnp.ones_like(ended[..., :1])
    # alive[k]: no end among steps t .. t+k-1 (unroll step k is still in o_t's episode)
    alive = jnp.concatenate([before, jnp.cumprod(~ended, axis=-1).astype(bool)], axis=-1)
    # absorbed[k]: the episode terminated at a step before t + k
    first_end_terminal = ends_here & alive[..., :k_steps]
    absorbed = jnp.concatenate([~before, jnp.cumsum(first_end_terminal, -1) > 0], axis=-1)
    counted = (alive | absorbed).astype(jnp.float32)  # (T, N, K+1)
    return UnrollSample(
        obs=obs[:num],
        actions=window(action)[..., :k_steps].astype(jnp.int32),
        rewards=jnp.where(alive[..., :k_steps], window(reward)[..., :k_steps], 0.0),
        values=jnp.where(alive, window(z), 0.0),
        policies=window(policy),
        reward_mask=counted[..., :k_steps],
        value_mask=counted,
        policy_mask=alive.astype(jnp.float32),
    )


def muzero_loss(
    network: MuZeroNet, params, batch: UnrollSample, l2_coef
) -> tuple[jax.Array, Metrics]:
    """The MuZero loss on a batch of unrolls (Schrittwieser et al. 2020, eq. 1 and appendix G):

        s^0 = h(o_t),  (r^k, s^k) = g(s^{k-1}, a_{t+k-1}),  (p^k, v^k) = f(s^k),
        L = mean_B sum_{k=0}^{K} w_k [ m^v_k ((z_{t+k} - v^k) / S)^2 - m^p_k pi_{t+k}^T log p^k
                                       + [k >= 1] m^r_k (u_{t+k} - r^k)^2 ] + c ||theta||^2,

    with w_0 = 1 and w_k = 1 / K for k >= 1 (the paper scales each unroll step's loss by 1/K so
    the total gradient does not grow with K), the masks m of `unroll_samples`, S the network's
    `value_scale` (value errors in its units, as in `alphazero_loss`), and c ||theta||^2 an
    explicit L2 term. The gradient into each dynamics step's latent input is halved (appendix
    G), so that the gradient reaching h stays of the same order whatever K.
    Scalar value and reward heads with a squared error (the paper's board-game choice; its
    Atari agent used categorical ones).
    """
    k_steps = batch.actions.shape[-1]
    latent = network.apply(params, batch.obs, method=MuZeroNet.represent)  # (B, L)

    def unroll(latent, action):
        latent = scale_gradient(latent, 0.5)
        reward, latent = network.apply(params, latent, action, method=MuZeroNet.dynamics)
        return latent, (reward, latent)

    _, (reward, latents) = jax.lax.scan(unroll, latent, batch.actions.T)  # (K, B), (K, B, L)
    latents = jnp.concatenate([latent[None], latents], axis=0)  # (K+1, B, L)
    logits, value = network.apply(params, latents, method=MuZeroNet.predict)
    logits, value, reward = jnp.moveaxis(logits, 0, 1), value.T, reward.T  # (B, K+1, ...)
    weight = jnp.concatenate([jnp.ones(1), jnp.full(k_steps, 1.0 / k_steps)])  # (K+1,)
    value_error = jnp.square((batch.values - value) / network.value_scale)
    cross_entropy = -jnp.sum(batch.policies * jax.nn.log_softmax(logits), axis=-1)
    reward_error = jnp.square(batch.rewards - reward)

    def total(x, mask, w):  # (B, k) -> (): weighted sum over the unroll, mean over the batch
        return jnp.mean(jnp.sum(w * mask * x, axis=-1))

    value_loss = total(value_error, batch.value_mask, weight)
    policy_loss = total(cross_entropy, batch.policy_mask, weight)
    reward_loss = total(reward_error, batch.reward_mask, weight[1:])
    l2 = sum(jnp.sum(jnp.square(w)) for w in jax.tree.leaves(params))
    loss = value_loss + policy_loss + reward_loss + l2_coef * l2
    return loss, {
        "loss": loss,
        "value_loss": value_loss,
        "policy_loss": policy_loss,
        "reward_loss": reward_loss,
        "l2": l2,
    }


class MuZeroState(struct.PyTreeNode):
    params: Any
    opt_state: Any
    replay: BufferState  # of `UnrollSample`s, capacity buffer_size
    previous: dict  # the previous rollout's leaves (num_steps, num_envs, ...), not yet stored
    has_previous: jax.Array  # () bool: false before the first rollout
    gamma: jax.Array  # () the discount the values are learned with (the evaluation's search's)
    env_state: Any  # the training stack's state, (num_envs, ...)
    obs: jax.Array  # (num_envs, ...) the current observations
    key: jax.Array


def make_network(config, spec: envs.EnvSpec) -> MuZeroNet:
    return MuZeroNet(
        spec.num_actions,
        tuple(config.hidden_sizes),
        config.latent_size,
        value_scale=float(config.value_scale),
    )


def make_learner(config: MuZeroConfig, spec: envs.EnvSpec | None = None) -> Learner:
    """Builds the `Learner` (static fields only; traced ones arrive as `hp`)."""
    config, spec = learner_inputs(config, spec)
    env = envs.make_batched(spec, config.num_envs)
    network = make_network(config, spec)
    buffer = ReplayBuffer(config.buffer_size)
    num_envs, num_steps, k_steps = config.num_envs, config.num_steps, config.unroll_steps
    num_actions = spec.num_actions

    def optimizer(hp: MuZeroHParams) -> optax.GradientTransformation:
        return optax.adam(hp.lr)

    def value_of(params, obs):  # (T, N, ...) -> (T, N): f(h(o))'s value
        latent = network.apply(
            params, obs.reshape((-1, *obs.shape[2:])), method=MuZeroNet.represent
        )
        _, value = network.apply(params, latent, method=MuZeroNet.predict)
        return value.reshape(obs.shape[:2])

    def unroll_inputs(both, z):
        """`unroll_samples`' arguments from a stretch of rollout leaves (W, N, ...)."""
        names = ("obs", "action", "reward", "terminated", "done", "policy")
        return (*(both[name] for name in names), jnp.broadcast_to(z, both["reward"].shape))

    def init(key: jax.Array, hp: MuZeroHParams) -> MuZeroState:
        key, net_key, env_key = jax.random.split(key, 3)
        obs, env_state = env.reset(env_key)
        params = network.init(net_key, obs, jnp.zeros(num_envs, jnp.int32))
        rows = (num_steps, num_envs)
        previous = {
            "obs": jnp.zeros((*rows, *obs.shape[1:]), obs.dtype),
            "action": jnp.zeros(rows, jnp.int32),
            "reward": jnp.zeros(rows, jnp.float32),
            "terminated": jnp.zeros(rows, bool),
            "done": jnp.zeros(rows, bool),
            "policy": jnp.zeros((*rows, num_actions), jnp.float32),
            "root_value": jnp.zeros(rows, jnp.float32),
            "final_obs": jnp.zeros((*rows, *obs.shape[1:]), obs.dtype),
        }
        example = jax.tree.map(
            lambda x: x[0, 0], unroll_samples(*unroll_inputs(previous, 0.0), k_steps)
        )
        return MuZeroState(
            params, optimizer(hp).init(params), buffer.init(example), previous,
            jnp.array(False), jnp.asarray(hp.gamma, jnp.float32), env_state, obs, key,
        )  # fmt: skip

    def rollout(params, env_state, obs, key, hp: MuZeroHParams):
        """num_steps searched steps of every env; leaves (T, N, ...)."""

        def step(carry, key):
            env_state, obs = carry
            search_key, env_key = jax.random.split(key)
            out = search(
                network, params, search_key, obs, config.num_simulations, gamma=hp.gamma,
                **training_search(config, hp),
            )  # fmt: skip
            next_obs, env_state, reward, terminated, truncated, info = env.step(
                env_key, env_state, out.action
            )
            leaves = {
                "obs": obs,
                "action": out.action.astype(jnp.int32),
                "reward": reward.astype(jnp.float32),
                "terminated": terminated,
                "done": terminated | truncated,
                "policy": out.action_weights,
                "root_value": out.search_tree.summary().value,
                "final_obs": info["final_observation"],
            }
            return (env_state, next_obs), (leaves, episode_info(info))

        (env_state, obs), (trajectory, info) = jax.lax.scan(
            step, (env_state, obs), jax.random.split(key, num_steps)
        )
        return env_state, obs, trajectory, info

    def update(state: MuZeroState, hp: MuZeroHParams) -> tuple[MuZeroState, Metrics]:
        key, play_key, sample_key = jax.random.split(state.key, 3)
        env_state, obs, traj, info = rollout(state.params, state.env_state, state.obs, play_key, hp)
        # the previous rollout's unrolls reach K steps into this one: its samples are complete
        both = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), state.previous, traj)
        z = value_targets(
            both["reward"], both["terminated"], both["done"], both["root_value"],
            value_of(state.params, both["final_obs"]), hp.gamma, hp.td_lambda,
        )  # fmt: skip  # (2T, N)
        samples = unroll_samples(*unroll_inputs(both, z), k_steps)  # (2T - K, N)
        samples = jax.tree.map(lambda x: x[:num_steps].reshape((-1, *x.shape[2:])), samples)
        valid = jnp.full(num_steps * num_envs, state.has_previous)
        replay = buffer.add(state.replay, samples, valid)
        params, opt_state, losses = learn_from_replay(
            lambda params, batch: muzero_loss(network, params, batch, hp.l2_coef),
            optimizer(hp), buffer, replay, state.params, state.opt_state, sample_key,
            config.batch_size, config.gradient_steps,
        )  # fmt: skip
        metrics = {
            **episode_metrics(info),
            "search_value": traj["root_value"].mean(),
            "value_target": z[:num_steps].mean(),
            **losses,
        }
        new_state = MuZeroState(
            params, opt_state, replay, traj, jnp.array(True), state.gamma, env_state, obs, key
        )
        return new_state, metrics

    def export(state: MuZeroState) -> dict:
        return {"params": state.params, "gamma": state.gamma}

    return Learner(init, update, export, config.num_updates, config.steps_per_update)


def make_train(config: MuZeroConfig, spec: envs.EnvSpec | None = None):
    """`train(key, hp) -> TrainOutput`, one pure jittable function for a whole run."""
    return scan_updates(make_learner(config, spec))


def make_policy(config: MuZeroConfig, spec: envs.EnvSpec | None = None):
    """`act(exported, obs, key) -> action`: the search with the learned model, without noise
    (Gumbel: the best action after Sequential Halving; PUCT: the most visited), at the config's
    simulations and the run's gamma (exported with the parameters)."""
    config, spec = learner_inputs(config, spec)
    network = make_network(config, spec)

    def act(exported, obs, key):
        out = search(
            network, exported["params"], key, obs, config.num_simulations,
            gamma=exported["gamma"],
            policy=config.policy, max_num_considered_actions=config.max_num_considered_actions,
        )  # fmt: skip
        return out.action

    return act


if __name__ == "__main__":
    from purejaxrl.cli import main

    main("muzero")
