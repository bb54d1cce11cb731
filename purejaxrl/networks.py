"""Networks shared by the algorithms: MLP and Atari CNN torsos, the actor-critic of the policy-gradient
methods, the value networks of DQN, DDPG and SAC, and the actors of DDPG and SAC."""

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
TorsoName = Literal["auto", "mlp", "nature_cnn", "small_cnn"]


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


CNN_LAYERS = {
    # (features, kernel, stride) per convolution, then the width of the dense layer
    "nature_cnn": (((32, 8, 4), (64, 4, 2), (64, 3, 1)), 512),  # Mnih et al. 2015, Nature
    "small_cnn": (((16, 8, 4), (32, 4, 2)), 256),  # Mnih et al. 2013, the NIPS workshop paper
}


class Conv2D(nn.Module):
    """A "VALID" convolution on NHWC inputs with a (k, k, C, F) kernel, as `nn.Conv` computes it.

    With `im2col` the convolution is a matrix product on extracted patches (`conv_by_matmul`). Its
    gradient is then made of slices and matmuls, which XLA's CPU backend runs far faster than its
    convolution gradients inside a `lax.scan` (measured here, jaxlib 0.10.2 on 2 cores: 0.06 s
    against 0.96 s per Nature-CNN gradient on 64 frames). `im2col=None` picks it on the CPU only;
    the parameters are the same either way, so checkpoints move between devices.
    """

    features: int
    kernel: int
    stride: int
    im2col: bool | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, s = self.kernel, self.stride
        kernel = self.param(
            "kernel", orthogonal(2**0.5), (k, k, x.shape[-1], self.features), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        im2col = jax.default_backend() == "cpu" if self.im2col is None else self.im2col
        if not im2col:
            y = jax.lax.conv_general_dilated(
                x, kernel, (s, s), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            return y + bias
        return conv_by_matmul(x, kernel, s) + bias


def conv_by_matmul(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """A "VALID" convolution as one matrix product on patches (im2col).

    When the stride divides the kernel size (every Atari CNN layer), the input is first folded
    into stride x stride blocks (space to depth), so that the patches take (k / stride)^2 slices
    instead of k^2: fewer operations to compile.

    Args:
        x: (B, H, W, C). kernel: (k, k, C, F).

    Returns:
        (B, (H - k) // stride + 1, (W - k) // stride + 1, F).
    """
    k, _, channels, features = kernel.shape
    out_h, out_w = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    if k % stride:
        blocks, m, s = x, k, stride
    else:
        m, s = k // stride, 1
        h, w = x.shape[1] // stride, x.shape[2] // stride
        blocks = x[:, : h * stride, : w * stride].reshape(-1, h, stride, w, stride, channels)
        blocks = blocks.transpose(0, 1, 3, 2, 4, 5).reshape(-1, h, w, stride * stride * channels)
        kernel = kernel.reshape(m, stride, m, stride, channels, features)
        kernel = kernel.transpose(0, 2, 1, 3, 4, 5)  # (block i, block j, i, j, c, f)
    patches = jnp.concatenate(
        [
            blocks[:, i : i + s * (out_h - 1) + 1 : s, j : j + s * (out_w - 1) + 1 : s, :]
            for i in range(m)
            for j in range(m)
        ],
        axis=-1,
    )  # (B, out_h, out_w, k * k * C), in the order of the kernel's rows
    return patches @ kernel.reshape((-1, features))


class AtariCNN(nn.Module):
    """The convolutional torso of the DQN papers, on stacked frames; ReLU after every layer.

    Takes uint8 frames of shape (..., C, H, W), channels first as envpool gives them (C = stacked
    frames), scales them to [0, 1] and returns features of shape (..., 512) for "nature_cnn" or
    (..., 256) for "small_cnn". Orthogonal(sqrt 2) initialisation, as CleanRL's Atari agents.
    """

    kind: str = "nature_cnn"
    im2col: bool | None = None  # see Conv2D

    @nn.compact
    def __call__(self, frames: jax.Array) -> jax.Array:
        convs, width = CNN_LAYERS[self.kind]
        batch_shape = frames.shape[:-3]
        x = frames.reshape((-1, *frames.shape[-3:])).astype(jnp.float32) / 255.0
        x = jnp.transpose(x, (0, 2, 3, 1))  # NCHW -> NHWC
        for features, kernel, stride in convs:
            x = nn.relu(Conv2D(features, kernel, stride, self.im2col)(x))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(width, kernel_init=orthogonal(2**0.5))(x))
        return x.reshape((*batch_shape, width))


def resolve_torso(torso: str, observation_space) -> str:
    """The torso `"auto"` stands for: "nature_cnn" for image observations (3-D: stacked frames),
    "mlp" otherwise. Other names are returned unchanged."""
    if torso != "auto":
        return torso
    return "nature_cnn" if len(observation_space.shape) == 3 else "mlp"


class ActorCritic(nn.Module):
    """Policy and value heads on the same observation: separate MLP torsos, or one shared torso.

    Discrete: the policy is `Categorical(logits)`. Continuous: `DiagGaussian(mean, log_std)` with a
    state-independent `log_std` parameter initialised to 0. The policy head is initialised with
    scale 0.01 (near-uniform policy), the value head with scale 1.

    With `torso` "nature_cnn" or "small_cnn" the observation is a stack of frames and both heads sit
    on one shared `AtariCNN` (hidden_sizes and activation are then unused), as in CleanRL's
    Atari PPO.

    Returns (distribution, value) with value of shape obs.shape[:-1] (obs.shape[:-3] for frames).
    """

    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    shared_torso: bool = False
    torso: str = "mlp"

    @nn.compact
    def __call__(self, obs: jax.Array):
        if self.torso == "mlp":
            policy_features = MLP(self.hidden_sizes, self.activation)(obs)
        else:
            policy_features = AtariCNN(self.torso)(obs)
        dist = policy_head(self, policy_features, self.action_dim, self.discrete)
        shared = self.shared_torso or self.torso != "mlp"
        value_features = policy_features if shared else MLP(self.hidden_sizes, self.activation)(obs)
        value = nn.Dense(1, kernel_init=orthogonal(1.0))(value_features)
        return dist, value[..., 0]


def policy_head(module: nn.Module, features: jax.Array, action_dim: int, discrete: bool):
    """The action distribution on `features`, inside `module`'s compact call: a linear head
    initialised with scale 0.01 (a near-uniform policy) giving Categorical logits, or the mean of
    a DiagGaussian whose state-independent `log_std` parameter starts at 0."""
    out = nn.Dense(action_dim, kernel_init=orthogonal(0.01))(features)
    if discrete:
        return Categorical(out)
    log_std = module.param("log_std", nn.initializers.zeros, (action_dim,))
    return DiagGaussian(out, jnp.broadcast_to(log_std, out.shape))


class Policy(nn.Module):
    """A policy alone, without a value head: an MLP torso and `policy_head` (ActorCritic's policy
    half). Returns the distribution (Categorical or DiagGaussian) over batch shape obs.shape[:-1]."""

    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array):
        features = MLP(self.hidden_sizes, self.activation)(obs)
        return policy_head(self, features, self.action_dim, self.discrete)


def action_dim(spec) -> int:
    """The width of a policy's output for `spec`: the action count, or the action vector's size."""
    return spec.num_actions if spec.discrete_actions else math.prod(spec.action_space.shape)


def make_actor_critic(config, spec) -> ActorCritic:
    """The `ActorCritic` of an on-policy config (hidden_sizes, activation, optional shared_torso
    and torso) for the env `spec` (an `envs.EnvSpec`): a Categorical policy for discrete actions,
    a Gaussian one otherwise; `torso="auto"` resolved from the observations."""
    shared = getattr(config, "shared_torso", False)
    torso = resolve_torso(getattr(config, "torso", "mlp"), spec.observation_space)
    return ActorCritic(
        action_dim(spec), spec.discrete_actions, config.hidden_sizes, config.activation, shared,
        torso,
    )  # fmt: skip


def make_actor_critic_policy(config, spec=None, sample: bool = False):
    """`act(exported, obs, key) -> action`: the deterministic (mode) policy of an actor-critic
    checkpoint, `exported = {"params", "obs_stats"}` (obs_stats None without normalisation); with
    `sample`, a sample of its distribution instead."""
    network = make_actor_critic(config, config.env_spec() if spec is None else spec)

    def act(exported: dict, obs: jax.Array, key: jax.Array) -> jax.Array:
        if exported["obs_stats"] is not None:
            obs = exported["obs_stats"].normalize(obs)
        dist, _ = network.apply(exported["params"], obs)
        return dist.sample(key) if sample else dist.mode()

    return act


def make_actor_critic_sampler(config, spec=None):
    """`act(exported, obs, key) -> action`: a sample of an actor-critic checkpoint's policy."""
    return make_actor_critic_policy(config, spec, sample=True)


class QNetwork(nn.Module):
    """Action values Q(s, .) of a discrete action space: an MLP torso and a linear head.

    Flax's default (LeCun normal) initialisation, as in PureJaxRL's and CleanRL's DQN. With
    `num_states` > 0 the observation is an integer state index of shape (...) and is one-hot
    encoded first (tabular envs such as the gridworlds). With `torso` "nature_cnn" or "small_cnn"
    the observation is a stack of frames and an `AtariCNN` replaces the MLP (Mnih et al. 2015 and
    2013). Returns shape (..., action_dim), where ... is obs.shape[:-1] for vector observations
    and obs.shape[:-3] for frames.
    """

    action_dim: int
    hidden_sizes: Sequence[int] = (120, 84)
    activation: str = "relu"
    num_states: int = 0
    torso: str = "mlp"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        if self.torso != "mlp":
            return nn.Dense(self.action_dim)(AtariCNN(self.torso)(obs))
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


LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
"""Bounds of `SquashedGaussianActor`'s log standard deviation (as CleanRL and SB3)."""


class SquashedGaussianActor(nn.Module):
    """Mean and log standard deviation of a Gaussian over pre-squash actions u, shape
    (*obs.shape[:-1], action_dim) each; the action is tanh(u) (`distributions.SquashedGaussian`,
    Haarnoja et al. 2018).

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


def to_env_action(action: jax.Array, space) -> jax.Array:
    """Maps normalised actions in [-1, 1] onto the action Box `space` [low, high], clipped to it."""
    scaled = space.low + (action + 1.0) * 0.5 * (space.high - space.low)
    return jnp.clip(scaled, space.low, space.high)


def from_env_action(action: jax.Array, space) -> jax.Array:
    """`to_env_action`'s inverse on the Box: env actions in [low, high] -> [-1, 1]."""
    return 2.0 * (action - space.low) / (space.high - space.low) - 1.0


def soft_update(target_params, params, tau):
    """theta' <- tau theta + (1 - tau) theta' on every leaf (Lillicrap et al. 2016); tau 1 copies."""
    return jax.tree.map(lambda t, p: tau * p + (1.0 - tau) * t, target_params, params)
