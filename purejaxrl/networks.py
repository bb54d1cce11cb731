"""Networks shared by the algorithms: MLP torsos and the actor-critic of the policy-gradient methods."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl.distributions import Categorical, DiagGaussian

ActivationName = Literal["tanh", "relu"]


def orthogonal(scale: float = 1.0):
    """Orthogonal initialiser (Saxe et al. 2014) built from matmuls only.

    Same distribution as `flax.linen.initializers.orthogonal` (the Q factor of a Gaussian matrix
    with R's diagonal made positive), computed by Gram-Schmidt with re-orthogonalisation instead of
    LAPACK's QR: jaxlib 0.10.2's CPU QR kernels deadlock when several batched QRs run at once, which
    is exactly what `vmap` over seeds of a network's init produces.
    """

    def init(key, shape, dtype=jnp.float32):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        n, m = max(rows, cols), min(rows, cols)
        q = gram_schmidt(jax.random.normal(key, (n, m), jnp.float32))
        q = q if rows >= cols else q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


def gram_schmidt(a: jax.Array) -> jax.Array:
    """Orthonormalises the columns of a (n, m) matrix, n >= m, left to right (CGS2)."""
    m = a.shape[1]

    def column(j, q):
        earlier = (jnp.arange(m) < j).astype(q.dtype)
        v = q[:, j]
        for _ in range(2):  # "twice is enough" (Giraud et al. 2005)
            v = v - q @ ((q.T @ v) * earlier)
        return q.at[:, j].set(v / jnp.linalg.norm(v))

    return jax.lax.fori_loop(0, m, column, a)


ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


class MLP(nn.Module):
    """Dense layers with orthogonal(sqrt 2) init, the common choice for small RL networks."""

    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.hidden_sizes:
            x = nn.Dense(size, kernel_init=orthogonal(np.sqrt(2)))(x)
            x = ACTIVATIONS[self.activation](x)
        return x


class ActorCritic(nn.Module):
    """Policy and value heads on the same observation: separate MLP torsos, or one shared torso.

    Discrete: the policy is `Categorical(logits)`. Continuous: `DiagGaussian(mean, log_std)` with a
    state-independent `log_std` parameter initialised to 0. The policy head is initialised with
    scale 0.01 (near-uniform policy), the value head with scale 1.

    Returns (distribution, value) with value of shape obs.shape[:-1].
    """

    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    shared_torso: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array):
        policy_features = MLP(self.hidden_sizes, self.activation)(obs)
        head = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01))
        out = head(policy_features)
        if self.discrete:
            dist = Categorical(out)
        else:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
            dist = DiagGaussian(out, jnp.broadcast_to(log_std, out.shape))
        value_features = (
            policy_features if self.shared_torso else MLP(self.hidden_sizes, self.activation)(obs)
        )
        value = nn.Dense(1, kernel_init=orthogonal(1.0))(value_features)
        return dist, value[..., 0]


def make_actor_critic(config, action_space) -> ActorCritic:
    """The `ActorCritic` of an on-policy config (hidden_sizes, activation, optional shared_torso),
    with a Categorical policy for a `Discrete` action space and a Gaussian one for a `Box`."""
    from gymnax.environments import spaces

    discrete = isinstance(action_space, spaces.Discrete)
    action_dim = action_space.n if discrete else math.prod(action_space.shape)
    shared = getattr(config, "shared_torso", False)
    return ActorCritic(action_dim, discrete, config.hidden_sizes, config.activation, shared)


def make_actor_critic_policy(config):
    """`act(exported, obs, key) -> action`: the deterministic (mode) policy of an actor-critic
    checkpoint, `exported = {"params", "obs_stats"}` (obs_stats None without normalisation)."""
    from envs import make_batched

    network = make_actor_critic(config, make_batched(config.env_id, 1).action_space)

    def act(exported: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        if exported["obs_stats"] is not None:
            obs = exported["obs_stats"].normalize(obs)
        dist, _ = network.apply(exported["params"], obs)
        return dist.mode()

    return act


class QNetwork(nn.Module):
    """Action values Q(s, .) of a discrete action space: an MLP torso and a linear head.

    Flax's default (LeCun normal) initialisation, as in PureJaxRL's and CleanRL's DQN. With
    `num_states` > 0 the observation is an integer state index of shape (...) and is one-hot
    encoded first (tabular envs such as the gridworlds). Returns shape (..., action_dim), where
    ... is obs.shape[:-1] for vector observations.
    """

    action_dim: int
    hidden_sizes: Sequence[int] = (120, 84)
    activation: str = "relu"
    num_states: int = 0

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = jax.nn.one_hot(obs, self.num_states) if self.num_states else obs
        for size in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](nn.Dense(size)(x))
        return nn.Dense(self.action_dim)(x)


class DeterministicActor(nn.Module):
    """mu(s) in [-1, 1]^action_dim: an MLP torso and a tanh head (Lillicrap et al. 2016).

    Actions are in normalised units; the algorithm maps [-1, 1] onto the env's bounds. Returns
    shape (*obs.shape[:-1], action_dim).
    """

    action_dim: int
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = obs
        for size in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](nn.Dense(size)(x))
        return nn.tanh(nn.Dense(self.action_dim)(x))


class Critic(nn.Module):
    """Q(s, a) of a continuous action: an MLP on the concatenated observation and action.

    Returns shape obs.shape[:-1].
    """

    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, action], axis=-1)
        for size in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](nn.Dense(size)(x))
        return nn.Dense(1)(x)[..., 0]


def soft_update(target_params, params, tau):
    """theta' <- tau theta + (1 - tau) theta' on every leaf (Lillicrap et al. 2016); tau 1 copies."""
    return jax.tree.map(lambda t, p: tau * p + (1.0 - tau) * t, target_params, params)
