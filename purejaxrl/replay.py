"""A uniform experience-replay buffer in pure jnp (Lin 1992; Mnih et al. 2015), shared by DQN and DDPG.

The buffer is a pytree of fixed-size arrays living inside the jitted training loop: no host round
trip, and a sweep over seeds simply vmaps it. It is circular: once `capacity` transitions have been
added, each new one overwrites the oldest. Sampling is uniform over the filled slots only.

    buffer = ReplayBuffer(capacity=10_000)
    state = buffer.init(example)              # example: one transition, no leading axis
    state = buffer.add(state, batch)          # batch: (B, ...) transitions, e.g. one per env
    sample = buffer.sample(state, key, 128)   # (128, ...) transitions

Transitions are any pytree; `Transition` is the one the value-based algorithms store, with
`terminated` and `truncated` kept apart so that targets bootstrap through a time limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct


class Transition(NamedTuple):
    """One environment step; in a buffer or batch each field gains leading axes."""

    obs: jax.Array  # (*obs_shape)
    action: jax.Array  # () discrete or (action_dim,) continuous
    reward: jax.Array  # ()
    next_obs: jax.Array  # (*obs_shape) the true next observation, before any auto-reset
    terminated: jax.Array  # () the MDP ended: no bootstrap from next_obs
    truncated: jax.Array  # () a time limit cut the episode: bootstrap from next_obs


@struct.dataclass
class BufferState:
    data: Any  # the transition pytree, each leaf (capacity, ...)
    position: jax.Array  # () int32, the slot the next transition goes to
    size: jax.Array  # () int32, filled slots, at most capacity


@dataclass(frozen=True)
class ReplayBuffer:
    """Fixed-capacity circular buffer with uniform sampling of filled slots."""

    capacity: int

    def __post_init__(self):
        if self.capacity < 1:
            raise ValueError(f"capacity={self.capacity}: must be >= 1")

    def init(self, example: Any) -> BufferState:
        """An empty buffer for transitions shaped like `example` (one transition, no batch axis)."""
        data = jax.tree.map(
            lambda x: jnp.zeros((self.capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example
        )
        return BufferState(data, jnp.array(0, jnp.int32), jnp.array(0, jnp.int32))

    def add(self, state: BufferState, batch: Any, valid: jax.Array | None = None) -> BufferState:
        """Writes a batch of B transitions (leaves (B, ...)) at the next slots, wrapping around.

        With `valid` (B,) bool, only the valid transitions are written, packed into consecutive
        slots in batch order; the others never enter the buffer (envpool's dummy reset steps).
        B must be at most `capacity`; the slots written are distinct, so the result does not
        depend on the order of the scatter.
        """
        size = jax.tree.leaves(batch)[0].shape[0]
        if size > self.capacity:
            raise ValueError(f"a batch of {size} transitions does not fit capacity {self.capacity}")
        valid = jnp.ones(size, bool) if valid is None else valid
        count = valid.sum()
        # valid transition i goes to the slot after the valid ones before it; the others to an
        # out-of-range slot, which the scatter drops
        slots = (state.position + jnp.cumsum(valid) - 1) % self.capacity
        slots = jnp.where(valid, slots, self.capacity)
        data = jax.tree.map(
            lambda buf, x: buf.at[slots].set(x.astype(buf.dtype), mode="drop"), state.data, batch
        )
        return BufferState(
            data,
            ((state.position + count) % self.capacity).astype(jnp.int32),
            jnp.minimum(state.size + count, self.capacity).astype(jnp.int32),
        )

    def sample(self, state: BufferState, key: jax.Array, batch_size: int) -> Any:
        """`batch_size` transitions drawn uniformly with replacement from the filled slots.

        The filled slots are always 0 .. size - 1 (the buffer fills from slot 0 and only
        overwrites once full). On an empty buffer it returns slot 0 (zeros): callers gate learning
        on `can_sample`.
        """
        index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(state.size, 1))
        return jax.tree.map(lambda buf: buf[index], state.data)

    def can_sample(self, state: BufferState, batch_size: int) -> jax.Array:
        """Whether at least `batch_size` transitions are stored."""
        return state.size >= batch_size
