"""PQN: Q(lambda) targets against a loop and by hand, the loss, probe environments, seeds and grids,
bad input, Atari (with envpool), and (slow) CartPole."""

import dataclasses
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import envs, registry, runner
from purejaxrl.config import ConfigError, hparams
from purejaxrl.pqn import (
    Batch,
    PQNConfig,
    make_learner,
    make_network,
    make_policy,
    make_train,
    pqn_loss,
)
from purejaxrl.returns import q_lambda_returns


def q_lambda_loop(r, q_next_max, terminated, truncated, gamma, lam):
    """The Q(lambda) recursion of one env, case by case, plain Python."""
    T = len(r)
    g = np.zeros(T)
    for t in reversed(range(T)):
        if terminated[t]:
            g[t] = r[t]
        elif truncated[t] or t == T - 1:
            g[t] = r[t] + gamma * q_next_max[t]
        else:
            g[t] = r[t] + gamma * (lam * g[t + 1] + (1 - lam) * q_next_max[t])
    return g


@pytest.fixture(params=["jit", "nojit"])
def q_lambda(request):
    return jax.jit(q_lambda_returns) if request.param == "jit" else q_lambda_returns


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_q_lambda_returns_match_a_python_loop_with_episodes_ending_inside_the_rollout(
    q_lambda, lam
):
    rng = np.random.default_rng(3)
    T, N = 7, 3
    r = rng.normal(size=(T, N)).astype(np.float32)
    q_next_max = rng.normal(size=(T, N)).astype(np.float32)
    terminated = rng.random((T, N)) < 0.2
    truncated = rng.random((T, N)) < 0.2
    # both kinds of ending occur before the last step, and a truncation without termination
    assert terminated[:-1].any() and (truncated[:-1] & ~terminated[:-1]).any()
    g = q_lambda(r, q_next_max, terminated, truncated, 0.9, lam)
    assert g.shape == (T, N)
    for n in range(N):
        expected = q_lambda_loop(
            r[:, n], q_next_max[:, n], terminated[:, n], truncated[:, n], 0.9, lam
        )
        np.testing.assert_allclose(g[:, n], expected, rtol=1e-5, atol=1e-5)


def test_q_lambda_returns_by_hand(q_lambda):
    # gamma 0.5, lambda 0.5; column 0 never ends, column 1 is truncated after step 0 and
    # terminated after step 1
    r = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], np.float32)
    q_next_max = np.array([[4.0, 4.0], [6.0, 6.0], [8.0, 8.0]], np.float32)
    terminated = np.array([[0, 0], [0, 1], [0, 0]], bool)
    truncated = np.array([[0, 1], [0, 0], [0, 0]], bool)
    g = q_lambda(r, q_next_max, terminated, truncated, 0.5, 0.5)
    # column 0: G2 = 3 + 0.5 * 8 = 7; G1 = 2 + 0.5 * (0.5 * 7 + 0.5 * 6) = 5.25;
    #           G0 = 1 + 0.5 * (0.5 * 5.25 + 0.5 * 4) = 3.3125
    # column 1: G2 = 7; G1 = 2 (terminated); G0 = 1 + 0.5 * 4 = 3 (truncated: no trace from G1)
    np.testing.assert_allclose(g, [[3.3125, 3.0], [5.25, 2.0], [7.0, 7.0]], rtol=1e-6)


def constant_q_params(network, obs, head_bias):
    """Parameters whose Q(s, .) is `head_bias` for every s: zero kernels make LayerNorm's input
    constant, so its output and everything after it is 0 until the head's bias."""
    params = network.init(jax.random.key(0), obs)
    params = jax.tree.map(jnp.zeros_like, params)
    layers = params["params"]
    head = sorted(k for k in layers if k.startswith("Dense"))[-1]
    layers[head]["bias"] = jnp.asarray(head_bias, jnp.float32)
    return params


def probe_network(hidden_sizes=(8,)):
    config = PQNConfig(env_id="Probe-ObsReward-v0", hidden_sizes=hidden_sizes)
    return make_network(config, envs.spec(config.env_id))


def test_loss_and_its_gradient_by_hand():
    network = probe_network()
    obs = jnp.array([[1.0], [-1.0], [0.5]])
    params = constant_q_params(network, obs, [1.0, 2.0])  # Q(s, .) = (1, 2)
    batch = Batch(obs, jnp.array([0, 1, 1]), jnp.array([0.0, 4.0, 2.0]), jnp.ones(3, bool))
    loss, metrics = pqn_loss(network, params, batch)
    # errors Q(s, a) - target = (1 - 0, 2 - 4, 2 - 2) = (1, -2, 0): 0.5 * (1 + 4 + 0) / 3
    assert float(loss) == pytest.approx(5 / 6, rel=1e-6)
    assert float(metrics["q_mean"]) == pytest.approx(5 / 3, rel=1e-6)
    grads = jax.grad(lambda p: pqn_loss(network, p, batch)[0])(params)
    head = sorted(k for k in params["params"] if k.startswith("Dense"))[-1]
    # d loss / d bias_a = mean over the batch of error * [action == a] = (1/3, -2/3)
    np.testing.assert_allclose(grads["params"][head]["bias"], [1 / 3, -2 / 3], rtol=1e-6)


def test_loss_regresses_the_taken_action_on_the_fixed_target():
    network = probe_network((16, 16))
    keys = jax.random.split(jax.random.key(1), 4)
    obs = jax.random.normal(keys[0], (10, 1))
    params = network.init(keys[1], obs)
    action = jax.random.randint(keys[2], (10,), 0, 2)
    target = jax.random.normal(keys[3], (10,))
    loss, _ = pqn_loss(network, params, Batch(obs, action, target, jnp.ones(10, bool)))
    q = np.asarray(network.apply(params, obs))[np.arange(10), np.asarray(action)]
    assert float(loss) == pytest.approx(0.5 * np.mean((q - np.asarray(target)) ** 2), rel=1e-5)
    grad_target = jax.grad(
        lambda y: pqn_loss(network, params, Batch(obs, action, y, jnp.ones(10, bool)))[0]
    )(target)
    assert np.all(np.asarray(grad_target) == 0)  # the target is held fixed


def test_invalid_steps_carry_no_weight_in_the_loss():
    """envpool's dummy reset steps (valid False) change neither the loss nor its gradient."""
    network = probe_network((16, 16))
    keys = jax.random.split(jax.random.key(2), 4)
    n, junk = 12, 5
    obs = jax.random.normal(keys[0], (n + junk, 1))
    params = network.init(keys[1], obs)
    batch = Batch(
        obs=obs,
        action=jax.random.randint(keys[2], (n + junk,), 0, 2),
        target=jax.random.normal(keys[3], (n + junk,)).at[n:].set(1e3),  # junk is extreme
        valid=jnp.arange(n + junk) < n,
    )
    grad = jax.grad(pqn_loss, argnums=1, has_aux=True)
    masked, masked_metrics = grad(network, params, batch)
    expected, expected_metrics = grad(network, params, jax.tree.map(lambda x: x[:n], batch))
    for got, want in zip(jax.tree.leaves(masked), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    for name, want in expected_metrics.items():
        np.testing.assert_allclose(masked_metrics[name], want, rtol=1e-4, atol=1e-6)


# with Adam (the registry row says why): RAdam left Q = 0.93 on Constant
PROBE_CONFIG = {**registry.get("pqn").probe, "progress": False, "compilation_cache": ""}


def probe_q_values(env_id: str, observations: list[float], **overrides) -> np.ndarray:
    """Q(o, .) for each observation value o after training on the probe (uniform behaviour)."""
    config = PQNConfig(env_id=env_id, **{**PROBE_CONFIG, **overrides})
    config.validate()
    out = jax.jit(make_train(config))(jax.random.key(0), hparams(config))
    network = make_network(config, envs.spec(env_id))
    return np.asarray(network.apply(out.state.params, jnp.array(observations)[:, None]))


@pytest.mark.learning  # trains on a probe env
def test_value_probes():
    q = probe_q_values("Probe-Constant-v0", [0.0])
    np.testing.assert_allclose(q, 1.0, atol=0.05)
    q = probe_q_values("Probe-ObsReward-v0", [1.0, -1.0])
    np.testing.assert_allclose(q, [[1.0, 1.0], [-1.0, -1.0]], atol=0.05)


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("q_lambda", [0.0, 0.95])
def test_two_step_probe_learns_the_discounted_value(q_lambda):
    q = probe_q_values("Probe-TwoStep-v0", [0.0, 1.0], q_lambda=q_lambda)
    np.testing.assert_allclose(q, [[0.9, 0.9], [1.0, 1.0]], atol=0.05)  # gamma * 1, then 1


@pytest.mark.learning  # trains on a probe env
def test_action_probes():
    q = probe_q_values("Probe-ActionReward-v0", [0.0])
    np.testing.assert_allclose(q, [[0.0, 1.0]], atol=0.05)
    q = probe_q_values("Probe-ObsActionReward-v0", [1.0, -1.0])
    np.testing.assert_allclose(q, [[0.0, 1.0], [1.0, 0.0]], atol=0.05)
    config = PQNConfig(env_id="Probe-ObsActionReward-v0", hidden_sizes=(32, 32))
    network = make_network(config, envs.spec(config.env_id))
    params = constant_q_params(network, jnp.zeros((1, 1)), [0.0, 1.0])
    action = make_policy(config)({"params": params}, jnp.zeros((3, 1)), jax.random.key(0))
    np.testing.assert_array_equal(action, [1, 1, 1])  # greedy in Q


def test_rewards_are_scaled_in_the_targets_but_not_in_the_reported_returns():
    config = PQNConfig(env_id="Probe-Constant-v0", **{**PROBE_CONFIG, "reward_scale": 0.1})
    out = jax.jit(make_train(config))(jax.random.key(0), hparams(config))
    network = make_network(config, envs.spec(config.env_id))
    q = np.asarray(network.apply(out.state.params, jnp.zeros((1, 1))))
    np.testing.assert_allclose(q, 0.1, atol=0.01)
    np.testing.assert_allclose(out.metrics["episode_return"], 1.0)


def test_epsilon_decays_linearly_over_the_asked_fraction_then_stays():
    config = PQNConfig(
        env_id="Probe-Constant-v0", num_envs=4, num_steps=4, total_timesteps=16 * 10,
        num_minibatches=2, epsilon_start=1.0, epsilon_end=0.2, epsilon_decay=0.4,
        hidden_sizes=(8,), progress=False, compilation_cache="",
    )  # fmt: skip
    out = jax.jit(make_train(config))(jax.random.key(0), hparams(config))
    # updates 0..9; decay over 4 updates: 1, 0.8, 0.6, 0.4, then 0.2
    expected = [1.0, 0.8, 0.6, 0.4] + [0.2] * 6
    np.testing.assert_allclose(out.metrics["epsilon"], expected, atol=1e-6)


TINY = PQNConfig(
    total_timesteps=4 * 16 * 4, num_envs=4, num_steps=16, num_minibatches=2, hidden_sizes=(32, 32),
    progress=False, compilation_cache="",
)  # fmt: skip


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"env_id": "Pendulum-v1"}, "env_id='Pendulum-v1': PQN needs a discrete action space"),
        ({"env_id": "Gridworld-Lizard-v0"}, "env_id='Gridworld-Lizard-v0': this algorithm needs vector (Box)"),
        ({"num_minibatches": 3}, "num_minibatches=3: must divide num_envs * num_steps = 64"),
        ({"num_epochs": 0}, "num_epochs=0: must be >= 1"),
        ({"total_timesteps": 32}, "total_timesteps=32: must be >= num_envs * num_steps = 64"),
        ({"lr": -1e-3}, "lr=-0.001: must be a finite number in (0.0, inf]"),
        ({"q_lambda": 1.5}, "q_lambda=1.5: must be a finite number in [0.0, 1.0]"),
        ({"q_lambda": -0.1}, "q_lambda=-0.1: must be a finite number in [0.0, 1.0]"),
        ({"epsilon_end": 0.5, "epsilon_start": 0.2}, "epsilon_end=0.5: must be a finite number in [0.0, 0.2]"),
        ({"epsilon_decay": 0.0}, "epsilon_decay=0.0: must be a finite number in (0.0, 1.0]"),
        ({"reward_scale": float("nan")}, "reward_scale=nan: must be a finite number in (0.0, inf]"),
        ({"torso": "nature_cnn"}, "torso='nature_cnn': needs image observations"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_one_line_naming_the_value_and_what_is_allowed(
    overrides, message
):
    with pytest.raises(ConfigError) as error:
        runner.validate(dataclasses.replace(TINY, **overrides))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def changed_leaves(before, after) -> int:
    pairs = zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True)
    return sum(not np.allclose(a, b) for a, b in pairs)


@pytest.mark.atari
@pytest.mark.skipif(
    importlib.util.find_spec("envpool") is None,
    reason="Atari needs the atari extra: pip install 'purejaxrl[atari]'",
)
def test_a_few_updates_on_pong_run_in_one_jitted_call_and_change_every_layer():
    config = PQNConfig.for_env(
        "Pong-v5", total_timesteps=2 * 4 * 16, num_envs=4, num_steps=16, num_minibatches=2
    )
    assert (config.num_epochs, config.q_lambda, config.epsilon_end) == (2, 0.65, 0.001)
    runner.validate(config)
    learner = make_learner(config)
    hp = hparams(config)
    key = jax.random.key(0)
    initial = learner.init(key, hp).params
    out = jax.jit(make_train(config))(key, hp)
    params = out.state.params
    assert changed_leaves(initial, params) == len(jax.tree.leaves(initial))  # every layer moved
    assert any("CNN" in name for name in params["params"]), "the Atari network has a CNN torso"
    assert np.isfinite(np.asarray(out.metrics["loss"])).all()
    assert out.metrics["episode_return"].shape == (config.num_updates,)


@pytest.mark.learning
def test_pqn_solves_cartpole_at_500k_steps_over_8_seeds():
    config = PQNConfig(num_seeds=8, progress=False, compilation_cache="")
    result = runner.run(config, make_learner, "pqn", write=False)
    final = result.summary["results"][0]["final_return_mean"]
    assert final >= 475, result.summary["results"]
