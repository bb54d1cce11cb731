"""The action distributions of the policy-gradient algorithms and of SAC, as pytrees.

`Categorical` for discrete action spaces and `DiagGaussian` for continuous ones share one small
interface: `sample(key)`, `log_prob(a)`, `entropy()`, `mode()` and `kl(other)` = KL(self || other).
Batch shapes broadcast; the event axis of `DiagGaussian` is the last one.

`SquashedGaussian` is SAC's bounded policy, tanh of a `DiagGaussian`; its log-probability is
taken at the pre-squash sample, where it is exact and stable (`sample_and_log_prob`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Categorical:
    logits: jax.Array  # (..., num_actions)

    @property
    def log_probs(self) -> jax.Array:
        return jax.nn.log_softmax(self.logits, axis=-1)

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.logits, axis=-1)

    def log_prob(self, action: jax.Array) -> jax.Array:
        return jnp.take_along_axis(self.log_probs, action[..., None].astype(jnp.int32), -1)[..., 0]

    def entropy(self) -> jax.Array:
        log_p = self.log_probs
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.logits, axis=-1)

    def kl(self, other: Categorical) -> jax.Array:
        log_p, log_q = self.log_probs, other.log_probs
        return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


@struct.dataclass
class DiagGaussian:
    mean: jax.Array  # (..., action_dim)
    log_std: jax.Array  # broadcastable to mean

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(self.log_std) * jax.random.normal(key, self.mean.shape)

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.mean) * jnp.exp(-self.log_std)
        per_dim = -0.5 * z**2 - self.log_std - 0.5 * jnp.log(2 * jnp.pi)
        return jnp.sum(per_dim, axis=-1)

    def entropy(self) -> jax.Array:
        per_dim = self.log_std + 0.5 * (1.0 + jnp.log(2 * jnp.pi))
        return jnp.sum(jnp.broadcast_to(per_dim, self.mean.shape), axis=-1)

    def mode(self) -> jax.Array:
        return self.mean

    def kl(self, other: DiagGaussian) -> jax.Array:
        var_ratio = jnp.exp(2 * (self.log_std - other.log_std))
        mean_term = ((self.mean - other.mean) * jnp.exp(-other.log_std)) ** 2
        per_dim = 0.5 * (var_ratio + mean_term - 1.0) - (self.log_std - other.log_std)
        return jnp.sum(jnp.broadcast_to(per_dim, self.mean.shape), axis=-1)


@struct.dataclass
class SquashedGaussian:
    """a = tanh(u), u ~ N(mean, exp(log_std)^2) per dimension: a policy over (-1, 1)^d
    (Haarnoja et al. 2018, appendix C)."""

    mean: jax.Array  # (..., action_dim) of the pre-squash Gaussian
    log_std: jax.Array  # (..., action_dim)

    def sample_and_log_prob(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(a (..., d) in (-1, 1), log pi(a) (...,)): a reparameterised sample
        a = tanh(mean + exp(log_std) eps), eps ~ N(0, 1), and its log-probability."""
        u = DiagGaussian(self.mean, self.log_std).sample(key)
        return jnp.tanh(u), self.log_prob_presquash(u)

    def log_prob_presquash(self, u: jax.Array) -> jax.Array:
        """log pi(a) of a = tanh(u), as a function of the pre-squash u (..., d); returns (...,).

        The change of variables gives log pi(a) = log N(u) - sum_i log(1 - tanh(u_i)^2), with
        log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) computed stably for large |u|.
        """
        gaussian = DiagGaussian(self.mean, self.log_std).log_prob(u)
        log_det = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
        return gaussian - jnp.sum(log_det, axis=-1)

    def mode(self) -> jax.Array:
        """tanh(mean): the squashed mean (the greedy action SAC evaluates with)."""
        return jnp.tanh(self.mean)
