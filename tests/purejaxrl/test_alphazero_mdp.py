"""AlphaZero on single-agent MDPs (the env as the search's model): the mctx wiring on a hand-made
env (discounting decides between an immediate and a delayed reward; nothing below a
terminal state counts), the TD(lambda) value targets by hand (termination, truncation, the
rollout's end), the loss's value scale, the config's refusals; and, marked learning, CartPole-v1
played by the raw network after training on the search's targets (the contract tests add the
registry row's probe and sweep checks)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment, spaces

pytest.importorskip("mctx")

from purejaxrl import alphazero_mdp as azm  # noqa: E402
from purejaxrl.alphazero import AlphaZeroNet, Sample, alphazero_loss  # noqa: E402
from purejaxrl.config import ConfigError  # noqa: E402
from purejaxrl.evaluate import greedy_returns  # noqa: E402
from purejaxrl.hparams import hparams  # noqa: E402

# ---- the mctx wiring --------------------------------------------------------------------------


@struct.dataclass
class DetourState(environment.EnvState):
    at: jax.Array  # () int32: 0 at the start, 1 after the detour, 2 at the end (terminal)


class Detour(environment.Environment):
    """From the start, action 0 takes 0.5 and ends; action 1 takes 0 and moves on to a state
    where either action takes 1 and ends. Q(start, 0) = 0.5 and Q(start, 1) = gamma: the detour
    is best when gamma > 0.5. Past the end `step_env` keeps paying 1 (as a finished gymnax
    state may): the search must not count it."""

    def step_env(self, key, state, action, params):
        reward = jnp.where(state.at == 0, jnp.where(action == 0, 0.5, 0.0), 1.0)
        at = jnp.where((state.at == 0) & (action == 1), 1, 2)
        new = DetourState(time=state.time + 1, at=at)
        return self.get_obs(new), new, reward, at == 2, {}

    def reset_env(self, key, params):
        state = DetourState(time=0, at=jnp.int32(0))
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jax.nn.one_hot(state.at, 3)

    def action_space(self, params=None):
        return spaces.Discrete(2)


def zero_value_network(obs_size: int):
    """An untrained network whose value is 0 everywhere (its value head zeroed): the search's
    values are then the env's rewards alone."""
    network = AlphaZeroNet(2, (8,), obs_ndim=1, bounded_value=False)
    params = network.init(jax.random.key(0), jnp.zeros((1, obs_size)))
    head = params["params"]["Dense_1"]
    params["params"]["Dense_1"] = jax.tree.map(jnp.zeros_like, head)
    return network, params


def detour_search(gamma, policy: str = "gumbel"):
    """The search from Detour's start (a batch of 1): 64 simulations, greedy (no root noise),
    with a value-free network, compiled once per policy."""
    return _detour_programs()[policy](jnp.float32(gamma))


@functools.cache
def _detour_programs():
    env = Detour()
    network, params = zero_value_network(3)
    obs, state = env.reset_env(jax.random.key(0), None)
    batch = jax.tree.map(lambda x: jnp.asarray(x)[None], (obs, state))

    def program(policy):
        def run(gamma):
            key = jax.random.key(1)
            return azm.search(network, env, None, params, key, *batch, 64, gamma=gamma,
                              policy=policy)  # fmt: skip

        return jax.jit(run)

    return {"gumbel": program("gumbel"), "puct": program("puct")}


@pytest.mark.parametrize(
    "policy", ["gumbel", pytest.param("puct", marks=pytest.mark.slow)]
)  # puct's search compiles for about 10 s more: the slow tier
def test_the_search_takes_the_delayed_reward_exactly_when_gamma_makes_it_worth_more(policy):
    for gamma, best in ((0.9, 1), (0.3, 0)):
        out = detour_search(gamma, policy)
        q = np.asarray(out.search_tree.summary().qvalues[0])  # (2,) at the root
        assert int(out.action[0]) == best, (gamma, q)
        # the detour's value is gamma * V(s1), V(s1) the mean of the network's 0 at its
        # expansion and the exact 1 of every backup through it: in (0, gamma]
        assert 0 < q[1] <= gamma + 1e-6
        pi = np.asarray(out.action_weights[0])
        np.testing.assert_allclose(pi.sum(), 1.0, rtol=1e-6)
        assert pi[best] > 0.5


def test_below_a_terminal_state_the_search_adds_no_reward():
    """Action 0 ends Detour with 0.5, and `step_env` goes on paying 1 from the finished state.
    The search expands below that terminal child; still Q(start, 0) = 0.5 exactly (its edge
    discounts by 0), and the child's own value stays 0 (every edge below it pays 0)."""
    tree = detour_search(0.3).search_tree  # gamma 0.3: action 0 is best and visited most
    q = np.asarray(tree.summary().qvalues[0])
    assert q[0] == 0.5
    end = int(tree.children_index[0, 0, 0])  # the node that action 0 leads to
    assert int(tree.children_visits[0, end].sum()) > 0  # expanded below the terminal state
    assert float(tree.node_values[0, end]) == 0.0


# ---- targets and loss by hand -----------------------------------------------------------------


def test_value_targets_cut_at_termination_bootstrap_at_truncation_and_at_the_rollouts_end():
    gamma, lam = 0.5, 0.5
    # column 0: an episode terminated at step 1, the next one truncated at step 3;
    # column 1: no episode ends, a reward of 2 at the last step
    r = jnp.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    terminated = jnp.array([[0, 0], [1, 0], [0, 0], [0, 0]], bool)
    done = jnp.array([[0, 0], [1, 0], [0, 0], [1, 0]], bool)
    v = jnp.array([[10.0, 1.0], [20.0, 2.0], [30.0, 3.0], [40.0, 4.0]])  # search root values
    v_final = jnp.array([[-1.0, -1.0], [99.0, -1.0], [-1.0, -1.0], [8.0, 6.0]])  # net, at s'
    z = np.asarray(jax.jit(azm.value_targets)(r, terminated, done, v, v_final, gamma, lam))
    # column 0, backwards: truncated at 3 -> bootstrap from the final observation's value 8
    z3 = 1 + gamma * 8
    z2 = 1 + gamma * ((1 - lam) * 40 + lam * z3)
    z1 = 1.0  # terminated: neither the 99 nor the reset state's 30 counts
    z0 = 1 + gamma * ((1 - lam) * 20 + lam * z1)
    np.testing.assert_allclose(z[:, 0], [z0, z1, z2, z3], rtol=1e-6)
    # column 1: the rollout ends at 3 -> bootstrap from the network's value 6 of the next state
    y3 = 2 + gamma * 6
    y2 = gamma * ((1 - lam) * 4 + lam * y3)
    y1 = gamma * ((1 - lam) * 3 + lam * y2)
    y0 = gamma * ((1 - lam) * 2 + lam * y1)
    np.testing.assert_allclose(z[:, 1], [y0, y1, y2, y3], rtol=1e-6)
    # lambda = 1: Monte-Carlo discounted returns within the episode
    mc = np.asarray(azm.value_targets(r, terminated, done, v, v_final, gamma, 1.0))
    np.testing.assert_allclose(mc[:2, 0], [1 + gamma, 1], rtol=1e-6)


def test_the_value_error_is_measured_in_units_of_the_value_scale():
    network = AlphaZeroNet(2, (4,), obs_ndim=1, bounded_value=False, value_scale=50.0)
    params = network.init(jax.random.key(0), jnp.zeros((1, 3)))
    obs = jax.random.normal(jax.random.key(1), (2, 3))
    batch = Sample(obs, jnp.array([[1.0, 0.0], [0.5, 0.5]]), jnp.array([40.0, -10.0]))
    _, metrics = alphazero_loss(network, params, batch, 0.0)
    _, v = (np.asarray(a, np.float64) for a in network.apply(params, obs))
    _, u = (np.asarray(a, np.float64) for a in network.clone(value_scale=1.0).apply(params, obs))
    np.testing.assert_allclose(v, 50 * u, rtol=1e-5)  # the head predicts v / value_scale
    expected = (((40 - v[0]) / 50) ** 2 + ((-10 - v[1]) / 50) ** 2) / 2
    np.testing.assert_allclose(metrics["value_loss"], expected, rtol=1e-5)


def test_other_envs_and_options_are_refused_in_one_line():
    cases = [
        ({"env_id": "Pendulum-v1"}, "env_id='Pendulum-v1': alphazero_mdp searches single-agent"),
        ({"env_id": "tic_tac_toe"}, "env_id='tic_tac_toe': a two-player board game"),
        ({"env_options": ("obs_keep=0,2",)}, "env_options=('obs_keep=0,2',): the search steps"),
        ({"gamma": 1.5}, "gamma=1.5: "),
        ({"buffer_size": 10}, "buffer_size=10: must be >= num_envs * num_steps = 256"),
    ]
    for fields, message in cases:
        with pytest.raises(ConfigError) as error:
            azm.Config(**fields).validate()
        assert message in str(error.value) and "\n" not in str(error.value)


# ---- learning -------------------------------------------------------------------------------------


@pytest.mark.learning
def test_on_cartpole_the_raw_network_learns_from_the_search():
    """After 5e4 env steps (2 seeds), the raw network alone (no search, greedy) balances the pole
    far longer than an untrained one (about 9 steps): the search's policy was distilled. Measured
    on 4 other seeds at this budget: 391-500."""
    config = azm.Config(total_timesteps=51_200, progress=False)
    spec = config.validate()
    train = jax.jit(jax.vmap(azm.make_train(config, spec), in_axes=(0, None)))
    out = train(jax.random.split(jax.random.key(0), 2), hparams(config))
    exported = jax.vmap(azm.make_learner(config, spec).export)(out.state)
    returns = greedy_returns(azm.make_policy(config, spec), exported, spec, 5, jax.random.key(1))
    assert np.asarray(returns).mean() >= 200, np.asarray(returns)
