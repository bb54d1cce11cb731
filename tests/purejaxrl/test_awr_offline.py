"""Offline AWR: the dataset's TD(lambda) targets and the weights by hand (terminals, timeouts and
stream ends, lambda mixing, clipping), and learning from random data where cloning cannot."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import awr_offline
from purejaxrl.config import hparams

QUIET = {"progress": False, "compilation_cache": "", "eval_episodes": 0}

# Two streams: rows 0-4 (a terminal at 1, a timeout at 3, the stream's end at 4, no flag there)
# and row 5 (a stream of one step). V(s) is the observation itself; next_observations differ
# from the next row's observation at the terminal (9, must be ignored) and at the timeout (7,
# the true final observation, not row 4's reset one).
HAND = {
    "observations": np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]], np.float32),
    "next_observations": np.array([[1.0], [9.0], [3.0], [7.0], [8.0], [6.0]], np.float32),
    "rewards": np.array([1.0, 2.0, 1.0, 0.5, 1.0, 2.0], np.float32),
    "terminals": np.array([0, 1, 0, 0, 0, 0], bool),
    "timeouts": np.array([0, 0, 0, 1, 0, 0], bool),
    "stream_ends": np.array([0, 0, 0, 0, 1, 1], bool),
}
# gamma 0.5, lambda 0.5, R_t = r_t + gamma (1 - term_t) [(1 - lambda c_t) V(s'_t) + lambda c_t R_t+1]
HAND_RETURNS = [
    1.0 + 0.5 * (0.5 * 1.0 + 0.5 * 2.0),  # 1.75: lambda mixes V(s'_0) = 1 and R_1 = 2
    2.0,  # terminal: no bootstrap from V(9)
    1.0 + 0.5 * (0.5 * 3.0 + 0.5 * 4.0),  # 2.75: V(s'_2) = 3 and R_3 = 4
    0.5 + 0.5 * 7.0,  # 4.0: timeout, bootstrap from the final observation, no trace onward
    1.0 + 0.5 * 8.0,  # 5.0: stream end, bootstrap from V(s'_4), nothing of row 5
    2.0 + 0.5 * 6.0,  # 5.0: a one-step stream
]


def hand_hp(**values):
    config = awr_offline.AWROfflineConfig(gamma=0.5, td_lambda=0.5, **values)
    return hparams(config)


@pytest.mark.parametrize("jit", [False, True])
def test_dataset_lambda_returns_by_hand_at_terminals_timeouts_and_stream_ends(jit):
    def returns(data, gamma, lambda_):
        return awr_offline.dataset_lambda_returns(data, lambda obs: obs[:, 0], gamma, lambda_)

    fn = jax.jit(returns) if jit else returns
    data = {name: jnp.asarray(x) for name, x in HAND.items()}
    r, v = fn(data, 0.5, 0.5)
    np.testing.assert_allclose(r, HAND_RETURNS, rtol=1e-6)
    np.testing.assert_allclose(v, [0, 1, 2, 3, 4, 5])
    # lambda 0: one-step targets everywhere; lambda 1: bootstrapped only where a trajectory ends
    r0, _ = fn(data, 0.5, 0.0)
    np.testing.assert_allclose(r0, [1.5, 2.0, 2.5, 4.0, 5.0, 5.0], rtol=1e-6)
    r1, _ = fn(data, 0.5, 1.0)
    np.testing.assert_allclose(r1, [2.0, 2.0, 3.0, 4.0, 5.0, 5.0], rtol=1e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_dataset_weights_by_hand_tempered_clipped_and_standardised(jit):
    targets = awr_offline.dataset_targets_and_weights
    fn = jax.jit(targets, static_argnums=(1, 3)) if jit else targets
    data = {name: jnp.asarray(x) for name, x in HAND.items()}

    def value_fn(obs):
        return obs[:, 0]

    advantage = np.array(HAND_RETURNS) - np.arange(6)  # 1.75, 1, 0.75, 1, 1, 0
    # raw A, beta 0.5, clip 5: exp(2 A) = 33.1, 7.39, 4.48, 7.39, 7.39, 1; four clipped to 5
    _, _, w = fn(data, value_fn, hand_hp(beta=0.5, weight_clip=5.0), False)
    np.testing.assert_allclose(w, [5.0, 5.0, np.exp(1.5), 5.0, 5.0, 1.0], rtol=1e-5)
    # standardised over the dataset, beta 1, clip 20 (none clipped)
    z = (advantage - advantage.mean()) / advantage.std()
    returns, values, w = fn(data, value_fn, hand_hp(), True)
    np.testing.assert_allclose(w, np.exp(z), rtol=1e-4)
    np.testing.assert_allclose(returns - values, advantage, rtol=1e-6)

    def weight_sum(obs):
        return targets({**data, "observations": obs}, value_fn, hand_hp())[2].sum()

    grad = jax.grad(weight_sum)(data["observations"])
    assert np.all(np.asarray(grad) == 0)  # the weights are held fixed


def run(module, config, seeds: int = 2):
    config.validate()
    keys = jax.random.split(jax.random.key(0), seeds)
    out = jax.jit(jax.vmap(module.make_train(config), in_axes=(0, None)))(keys, hparams(config))
    return module.make_learner(config).export(out.state), out.metrics


@pytest.mark.learning
def test_awr_learns_to_balance_from_random_cartpole_data():
    """10,000 steps of a uniformly random policy, whose episodes last about 22 steps (its clone,
    `bc --dataset random`, plays about 10): the value function finds which pushes keep the pole
    up, and after 1,000 gradient steps AWR's greedy policy balances for more than 100 steps in
    both seeds."""
    config = awr_offline.AWROfflineConfig(
        dataset="random", random_dataset_steps=10_000, total_timesteps=1000,
        steps_per_update=500, **QUIET,
    )  # fmt: skip
    _, metrics = run(awr_offline, config)
    final = np.asarray(metrics["episode_return"][:, -1])
    assert (final > 100).all(), final
    assert (np.asarray(metrics["clipped_fraction"]) < 0.05).all()


@pytest.mark.learning
def test_awr_picks_the_rewarded_continuous_action_out_of_random_ones():
    """On Probe-ObsActionRewardContinuous (reward 1 - (a - obs / 2)^2, one step) with uniformly
    random actions in [-1, 1], the weighted regression moves the Gaussian's mean onto the
    rewarded action obs / 2 (cloning would give 0, the data's mean), both observations."""
    config = awr_offline.AWROfflineConfig(
        env_id="Probe-ObsActionRewardContinuous-v0", dataset="random", random_dataset_steps=4096,
        total_timesteps=1000, steps_per_update=500, batch_size=128, hidden_sizes=(32,),
        beta=0.2, **QUIET,
    )  # fmt: skip
    params, metrics = run(awr_offline, config, seeds=1)
    params = jax.tree.map(lambda x: x[0], params)
    action = np.asarray(awr_offline.make_policy(config)(params, jnp.array([[1.0], [-1.0]]), None))
    np.testing.assert_allclose(action.reshape(2), [0.5, -0.5], atol=0.1)
    assert float(metrics["episode_return"][0, -1]) > 0.95
