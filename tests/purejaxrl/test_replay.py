"""The jnp replay buffer: wrap-around, sampling of filled slots only, dtypes, vmap."""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl.replay import FrameReplayBuffer, ReplayBuffer, Transition, transition_bytes


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


needs_envpool = pytest.mark.skipif(
    importlib.util.find_spec("envpool") is None,
    reason="Atari needs the atari extra: pip install 'purejaxrl[atari]'",
)


def atari_stream(env_id, num_envs, steps, seed, **options):
    """(transitions, valid) of `steps` random-action steps of the envpool adapter, as DQN adds
    them: leaves (steps, num_envs, ...), dummy reset steps included and flagged invalid."""
    from purejaxrl import envs

    env = envs.make_batched(env_id, num_envs, seed=seed, **options)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, env.action_space.n, (steps, num_envs)).astype(np.int32)
    key = jax.random.key(0)

    def run(actions):
        obs, state = env.reset(key)

        def body(carry, action):
            obs, state = carry
            next_obs, state, reward, terminated, truncated, info = env.step(key, state, action)
            transition = Transition(
                obs, action, reward, info["final_observation"], terminated, truncated
            )
            return (next_obs, state), (transition, info["valid"])

        return jax.lax.scan(body, (obs, state), actions)[1]

    return jax.tree.map(np.asarray, jax.jit(run)(actions))


def at(tree, index):
    return jax.tree.map(lambda x: x[index], tree)


def assert_same_transitions(a, b, where):
    for name, x, y in zip(Transition._fields, a, b, strict=True):
        np.testing.assert_array_equal(x, y, err_msg=f"{name} {where}")


STREAMS = [
    # episodic life and a short time limit: lost lives (stack goes on), resets (stack restarts),
    # truncations and envpool's dummy steps after each
    ("Breakout-v5", {"max_episode_steps": 60}, True),
    # colour frames (3 channels each), 3 per observation
    ("Pong-v5", {"max_episode_steps": 40, "gray_scale": False, "stack_num": 3}, False),
]


@needs_envpool
@pytest.mark.parametrize("env_id,options,lives", STREAMS, ids=[s[0] for s in STREAMS])
def test_frame_buffer_returns_exactly_the_naive_buffers_transitions(env_id, options, lives):
    num_envs, steps, capacity = 3, 300, 100  # wraps around about 8 times
    # two runs one after the other, as a resumed run resets its games: the buffer starts afresh
    halves = [atari_stream(env_id, num_envs, steps // 2, seed, **options) for seed in (1, 2)]
    transitions, valid = jax.tree.map(lambda *x: np.concatenate(x), *halves)
    assert (~valid).sum() >= 4 and transitions.truncated.any()
    assert transitions.terminated.any() == lives  # Pong has no lives to lose in 300 steps
    stack = options.get("stack_num", 4)
    example = jax.tree.map(lambda x: x[0, 0], transitions)
    naive = ReplayBuffer(capacity)
    shared = FrameReplayBuffer(capacity, num_envs, stack, margin=0.5)
    naive_state, shared_state = naive.init(example), shared.init(example)
    naive_add, shared_add = jax.jit(naive.add), jax.jit(shared.add)
    naive_sample = jax.jit(naive.sample, static_argnums=2)
    shared_sample = jax.jit(shared.sample, static_argnums=2)
    restarts = 0
    for t in range(steps):
        batch = at(transitions, t)
        naive_state = naive_add(naive_state, batch, valid[t])
        shared_state = shared_add(shared_state, batch, valid[t])
        newest = int(shared_state.newest)
        restarts += int((shared_state.first[newest % shared.frames_per_env] == newest).sum())
        if t % 20 == 19 or t == steps - 1:
            size = int(naive_state.size)
            assert int(shared_state.size) == size and int(shared.live(shared_state)) == size
            every = at(naive_state.data, slice(size))
            assert_same_transitions(shared.get(shared_state, jnp.arange(size)), every, f"step {t}")
            key = jax.random.key(t)
            assert_same_transitions(
                shared_sample(shared_state, key, 64),
                naive_sample(naive_state, key, 64),
                f"step {t}",
            )
    assert int(naive_state.size) == capacity and valid.sum() > 3 * capacity
    assert restarts >= 2  # stacks that restarted at a reset were rebuilt too


@needs_envpool
def test_frame_buffer_samples_only_transitions_whose_frames_are_kept():
    """With no spare slots, dummy steps push the oldest transitions' frames out: those are no
    longer sampled, and all that are sampled are exact."""
    num_envs, steps, capacity = 2, 200, 60
    transitions, valid = atari_stream("Breakout-v5", num_envs, steps, seed=2, max_episode_steps=50)
    example = jax.tree.map(lambda x: x[0, 0], transitions)
    naive, shared = ReplayBuffer(capacity), FrameReplayBuffer(capacity, num_envs, 4, margin=0.0)
    naive_state, shared_state = naive.init(example), shared.init(example)
    for t in range(steps):
        batch = at(transitions, t)
        naive_state = naive.add(naive_state, batch, valid[t])
        shared_state = shared.add(shared_state, batch, valid[t])
    live = int(shared.live(shared_state))
    assert 0 < live < capacity
    assert not bool(shared.can_sample(shared_state, live + 1))
    slots = (int(shared_state.position) - live + np.arange(live)) % capacity
    assert_same_transitions(
        shared.get(shared_state, jnp.asarray(slots)),
        jax.tree.map(lambda buf: buf[slots], naive_state.data),
        "live slots",
    )
    assert shared.sample(shared_state, jax.random.key(0), 8).obs.shape == (8, 4, 84, 84)


def test_frame_buffer_stores_each_atari_frame_once():
    """The 2015 paper's 1e6 transitions of 4 x 84 x 84 frames, 4 envs: 56 GB as pairs of stacks."""
    obs = jnp.zeros((4, 84, 84), jnp.uint8)
    example = Transition(obs, jnp.int32(0), jnp.float32(0), obs, jnp.bool_(False), jnp.bool_(False))
    naive = transition_bytes(example)
    shared = FrameReplayBuffer(1_000_000, 4, 4).bytes_per_transition(example)
    assert naive == 2 * 4 * 84 * 84 + 4 + 4 + 1 + 1
    assert naive * 1e6 > 56e9
    assert shared < 7300 and shared * 1e6 < 8e9
