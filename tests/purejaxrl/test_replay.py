"""The jnp replay buffer: wrap-around, sampling of filled slots only, dtypes, vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl.replay import ReplayBuffer, Transition


def scalar_items(values):
    return {"x": jnp.asarray(values, jnp.int32)}


def test_adds_wrap_around_and_overwrite_the_oldest():
    buffer = ReplayBuffer(5)
    state = buffer.init({"x": jnp.int32(0)})
    state = buffer.add(state, scalar_items([1, 2, 3]))
    assert int(state.position) == 3 and int(state.size) == 3
    np.testing.assert_array_equal(state.data["x"], [1, 2, 3, 0, 0])
    state = buffer.add(state, scalar_items([4, 5, 6]))
    assert int(state.position) == 1 and int(state.size) == 5
    np.testing.assert_array_equal(state.data["x"], [6, 2, 3, 4, 5])
    state = buffer.add(state, scalar_items([7, 8, 9]))
    assert int(state.position) == 4 and int(state.size) == 5
    np.testing.assert_array_equal(state.data["x"], [6, 7, 8, 9, 5])


def test_sampling_returns_only_filled_slots_and_all_of_them():
    buffer = ReplayBuffer(10)
    state = buffer.add(buffer.init({"x": jnp.int32(0)}), scalar_items([11, 12, 13]))
    assert not bool(buffer.can_sample(state, 4)) and bool(buffer.can_sample(state, 3))
    sample = jax.jit(buffer.sample, static_argnums=2)(state, jax.random.key(0), 3000)
    assert set(np.unique(sample["x"]).tolist()) == {11, 12, 13}
    counts = np.bincount(np.asarray(sample["x"]) - 11)
    assert counts.min() > 900  # uniform: 1000 each expected, sd about 26


@pytest.mark.parametrize(
    "obs,action",
    [
        (jnp.zeros(4, jnp.float32), jnp.int32(0)),  # CartPole-like, discrete action
        (jnp.zeros((84, 84, 4), jnp.uint8), jnp.int32(0)),  # Atari frames
        (jnp.zeros(3, jnp.float32), jnp.zeros(1, jnp.float32)),  # continuous action
    ],
)
def test_shapes_and_dtypes_are_kept(obs, action):
    example = Transition(obs, action, jnp.float32(0), obs, jnp.bool_(False), jnp.bool_(False))
    buffer = ReplayBuffer(8)
    state = buffer.init(example)
    batch = jax.tree.map(lambda x: jnp.stack([x + 1, x + 2]), example)
    state = buffer.add(state, batch)
    sample = buffer.sample(state, jax.random.key(1), 5)
    for leaf, sampled, stored in zip(
        jax.tree.leaves(example), jax.tree.leaves(sample), jax.tree.leaves(state.data), strict=True
    ):
        assert stored.shape == (8, *leaf.shape) and stored.dtype == leaf.dtype
        assert sampled.shape == (5, *leaf.shape) and sampled.dtype == leaf.dtype
    assert set(np.unique(sample.obs).tolist()) <= {1, 2}


def test_buffers_vmap_and_each_equals_the_buffer_alone():
    buffer = ReplayBuffer(6)
    values = jnp.arange(4 * 4, dtype=jnp.int32).reshape(4, 4)  # 4 buffers, 4 items each
    keys = jax.random.split(jax.random.key(2), 4)

    def fill_and_sample(items, key):
        state = buffer.add(buffer.init({"x": jnp.int32(0)}), {"x": items[:2]})
        state = buffer.add(state, {"x": items[2:]})
        return state, buffer.sample(state, key, 7)

    states, samples = jax.jit(jax.vmap(fill_and_sample))(values, keys)
    for i in range(4):
        state, sample = fill_and_sample(values[i], keys[i])
        np.testing.assert_array_equal(states.data["x"][i], state.data["x"])
        np.testing.assert_array_equal(samples["x"][i], sample["x"])


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="capacity=0: must be >= 1"):
        ReplayBuffer(0)
    buffer = ReplayBuffer(2)
    with pytest.raises(ValueError, match="a batch of 3 transitions does not fit capacity 2"):
        buffer.add(buffer.init({"x": jnp.int32(0)}), scalar_items([1, 2, 3]))


def test_invalid_transitions_never_enter_the_buffer():
    """envpool's dummy reset steps are flagged invalid: the valid ones are packed, in order."""
    buffer = ReplayBuffer(5)
    state = buffer.init({"x": jnp.int32(0)})
    add = jax.jit(buffer.add)
    state = add(state, scalar_items([1, 2, 3]), jnp.array([True, False, True]))
    assert int(state.position) == 2 and int(state.size) == 2
    np.testing.assert_array_equal(state.data["x"], [1, 3, 0, 0, 0])
    state = add(state, scalar_items([4, 5, 6]), jnp.array([False, False, False]))
    assert int(state.position) == 2 and int(state.size) == 2
    state = add(state, scalar_items([7, 8, 9]), jnp.array([True, True, True]))
    state = add(state, scalar_items([10, 11, 12]), jnp.array([True, False, True]))
    assert int(state.position) == 2 and int(state.size) == 5  # wrapped around
    np.testing.assert_array_equal(state.data["x"], [10, 12, 7, 8, 9])
    sample = buffer.sample(state, jax.random.key(0), 500)
    assert set(np.unique(sample["x"]).tolist()) == {7, 8, 9, 10, 12}
