"""Networks shared by the algorithms: MLP torsos and the actor-critic of the policy-gradient methods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl.distributions import Categorical, DiagGaussian

ActivationName = Literal["tanh", "relu"]
ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


class MLP(nn.Module):
    """Dense layers with orthogonal(sqrt 2) init, the common choice for small RL networks."""

    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.hidden_sizes:
            x = nn.Dense(size, kernel_init=nn.initializers.orthogonal(np.sqrt(2)))(x)
            x = ACTIVATIONS[self.activation](x)
        return x


class ActorCritic(nn.Module):
    """Separate policy and value MLPs on the same observation.

    Discrete: the policy is `Categorical(logits)`. Continuous: `DiagGaussian(mean, log_std)` with a
    state-independent `log_std` parameter initialised to 0. The policy head is initialised with
    scale 0.01 (near-uniform policy), the value head with scale 1.

    Returns (distribution, value) with value of shape obs.shape[:-1].
    """

    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array):
        head = nn.Dense(self.action_dim, kernel_init=nn.initializers.orthogonal(0.01))
        out = head(MLP(self.hidden_sizes, self.activation)(obs))
        if self.discrete:
            dist = Categorical(out)
        else:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
            dist = DiagGaussian(out, jnp.broadcast_to(log_std, out.shape))
        value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))(
            MLP(self.hidden_sizes, self.activation)(obs)
        )
        return dist, value[..., 0]
