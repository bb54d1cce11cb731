"""On-policy experience collection shared by PPO, A2C and REINFORCE; the episodes of a fixed
policy (`first_episode_returns`, `first_episode_info`), which evaluation and the offline learners play."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purejaxrl.learner import episode_info


class RolloutStep(NamedTuple):
    """One rollout step of every env; in a trajectory each field gains a leading (T,) axis."""

    obs: jax.Array  # (N, *obs_shape)
    action: jax.Array  # (N,) discrete or (N, action_dim) continuous
    log_prob: jax.Array  # (N,)
    value: jax.Array  # (N,)
    reward: jax.Array  # (N,)
    terminated: jax.Array  # (N,)
    done: jax.Array  # (N,) terminated or truncated
    next_obs: jax.Array  # (N, *obs_shape) true next observation, before any auto-reset
    valid: jax.Array  # (N,) bool, false for envpool's dummy reset steps: keep them out of losses
    dist: Any  # the behaviour policy's distribution (PPO's KL penalty uses it)
    info: dict  # episode statistics, (N,) each


def collect(env, network, params, env_state, obs: jax.Array, key: jax.Array, num_steps: int):
    """Steps `env` (a `BatchedEnv`) `num_steps` times with actions sampled from `network`.

    `network.apply(params, obs)` must return (distribution, value).

    Returns:
        (env_state, obs, key, trajectory): the env state and observation after the last step,
        the advanced key, and a `RolloutStep` whose fields have shape (num_steps, N, ...).
    """

    def apply(params, obs, first, memory):
        dist, value = network.apply(params, obs)
        return dist, value, memory

    first = jnp.zeros(obs.shape[:1], bool)  # unread by a feed-forward network
    env_state, obs, _, _, key, trajectory, _ = collect_with_memory(
        env, apply, params, env_state, obs, first, (), key, num_steps
    )
    return env_state, obs, key, trajectory


def collect_with_memory(
    env,
    apply,
    params,
    env_state,
    obs: jax.Array,
    first: jax.Array,
    memory: Any,
    key: jax.Array,
    num_steps: int,
):
    """`collect` for a policy with memory (a recurrent network's hidden state).

    At step t, `apply(params, obs_t, first_t, memory_t) -> (distribution, value, memory_{t+1})`,
    where first_t (N,) is true where obs_t is the first observation of an episode: the env was
    just reset, or the previous step ended an episode (first_t = done_{t-1}, and the given
    `first` for t = 0). The policy resets its memory where first_t (see `purejaxrl.ppo_rnn`).

    Returns:
        (env_state, obs, first, memory, key, trajectory, memories): the env state, observation,
        first flags and memory after the last step (what the next rollout starts from), the
        advanced key, a `RolloutStep` whose fields have shape (num_steps, N, ...), and the memory
        after every step, leaves (num_steps, ...).
    """

    def step(carry, _):
        env_state, obs, first, memory, key = carry
        key, act_key, env_key = jax.random.split(key, 3)
        dist, value, memory = apply(params, obs, first, memory)
        action = dist.sample(act_key)
        next_obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, env_state, action
        )
        done = jnp.logical_or(terminated, truncated)
        transition = RolloutStep(
            obs=obs,
            action=action,
            log_prob=dist.log_prob(action),
            value=value,
            reward=reward,
            terminated=terminated,
            done=done,
            next_obs=info["final_observation"],
            valid=info.get("valid", jnp.ones_like(terminated)),
            dist=dist,
            info=episode_info(info),
        )
        return (env_state, next_obs, done, memory, key), (transition, memory)

    init = (env_state, obs, first, memory, key)
    (env_state, obs, first, memory, key), (trajectory, memories) = jax.lax.scan(
        step, init, None, num_steps
    )
    return env_state, obs, first, memory, key, trajectory, memories


def first_episode_returns(
    act, exported, env, max_steps: int, key: jax.Array, initial_carry=None, stop_early=True
):
    """The return of the first episode of each of `env`'s envs under the policy `act`.

    Args:
        act: `act(exported, obs (E, ...), key, carry, first) -> (action, carry)` (a feed-forward
            policy through `evaluate.with_memory`).
        env: a `BatchedEnv` of E envs, reset here from `key`.
        max_steps: the most steps played (at least the episode limit + 1, so that every episode
            ends); play stops once every env's first episode has ended.
        initial_carry: a recurrent policy's `initial_carry(E) -> carry`, None for a feed-forward
            one.
        stop_early: stop once every env's first episode has ended (a while loop). False plays
            all max_steps (a scan), with the same result: what an env stepped on the host
            through an IO callback (MuJoCo through envpool) needs when runs are vmapped, since
            JAX refuses IO effects in a while loop whose predicate is batched.

    Returns:
        (E,) each env's first return (0 for an env whose episode did not end within max_steps).
    """
    ends = first_episode_info(
        act, exported, env, max_steps, key, initial_carry, stop_early=stop_early
    )
    return ends["episode_return"]


def first_episode_info(
    act,
    exported,
    env,
    max_steps: int,
    key: jax.Array,
    initial_carry=None,
    info_keys: tuple[str, ...] = ("episode_return",),
    stop_early: bool = True,
) -> dict[str, jax.Array]:
    """`first_episode_returns` for any of the env's `info` entries: each of `info_keys` as it was
    on the step that ended each env's first episode (e.g. Craftax's `Achievements/<name>`);
    `stop_early` as there.

    Returns:
        {info key: (E,) float32, its value at each env's first episode end, 0 where none ended}.
    """
    num = env.num_envs
    obs, state = env.reset(key)  # and the steps' keys split from the same key, as always here
    memory = () if initial_carry is None else initial_carry(num)
    keys = jax.random.split(key, max_steps)

    def going(carry):
        steps, *_, finished = carry
        return (steps < max_steps) & ~finished.all()

    def step(carry):
        steps, obs, state, memory, first, ends, finished = carry
        act_key, env_key = jax.random.split(keys[steps])
        action, memory = act(exported, obs, act_key, memory, first)
        obs, state, _, _, _, info = env.step(env_key, state, action)
        first_end = info["returned_episode"] & ~finished
        ends = {k: jnp.where(first_end, info[k], v).astype(v.dtype) for k, v in ends.items()}
        first = info["returned_episode"]
        return steps + 1, obs, state, memory, first, ends, finished | first

    ends = {k: jnp.zeros(num) for k in info_keys}
    init = (jnp.int32(0), obs, state, memory, jnp.ones(num, bool), ends, jnp.zeros(num, bool))
    if stop_early:
        return jax.lax.while_loop(going, step, init)[5]
    return jax.lax.scan(lambda carry, _: (step(carry), None), init, None, max_steps)[0][5]
