"""PPO: probe environments, seeds, grids and (slow) CartPole learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import ppo, registry, runner
from purejaxrl.config import hparams
from purejaxrl.ppo import PPOConfig, make_learner

PROBE_CONFIG = dict(registry.get("ppo").probe)


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("suffix", ["", "Continuous"])
def test_value_probes(actor_critic_probes, suffix):
    actor_critic_probes.values(ppo, PROBE_CONFIG, suffix, gamma=0.9)


@pytest.mark.learning  # trains on a probe env
@pytest.mark.parametrize("loss", ["clip", "kl"])
def test_discrete_policy_probes(actor_critic_probes, loss):
    actor_critic_probes.discrete_policies(ppo, {**PROBE_CONFIG, "loss": loss})


@pytest.mark.learning  # trains on a probe env
def test_continuous_policy_probes(actor_critic_probes):
    actor_critic_probes.continuous_policies(ppo, PROBE_CONFIG)


@pytest.mark.learning
def test_ppo_solves_cartpole_at_500k_steps_over_8_seeds():
    config = PPOConfig(num_seeds=8, progress=False, compilation_cache="")
    result = runner.run(config, make_learner, "ppo", write=False)
    final = result.summary["results"][0]["final_return_mean"]
    assert final >= 475, result.summary["results"]


@pytest.mark.parametrize("loss", ["clip", "kl"])
def test_invalid_steps_carry_no_weight_in_the_loss(loss):
    """envpool's dummy reset steps (valid False) change neither the loss nor its gradient."""
    from purejaxrl.distributions import Categorical
    from purejaxrl.networks import ActorCritic

    config = PPOConfig(loss=loss)
    network = ActorCritic(3, discrete=True)
    keys = jax.random.split(jax.random.key(0), 8)
    n, junk = 12, 5
    obs = jax.random.normal(keys[0], (n + junk, 4))
    params = network.init(keys[1], obs)
    batch = ppo.Batch(
        obs=obs,
        action=jax.random.randint(keys[2], (n + junk,), 0, 3),
        log_prob=jnp.log(jax.random.uniform(keys[3], (n + junk,), minval=0.2, maxval=0.5)),
        value=jax.random.normal(keys[4], (n + junk,)),
        dist=Categorical(jax.random.normal(keys[5], (n + junk, 3))),
        advantage=jax.random.normal(keys[6], (n + junk,)).at[n:].set(1e3),  # junk is extreme
        target=jax.random.normal(keys[7], (n + junk,)).at[n:].set(-1e3),
        valid=jnp.arange(n + junk) < n,
    )
    hp = hparams(config)
    grad = jax.grad(ppo.ppo_loss, argnums=1, has_aux=True)
    masked, masked_metrics = grad(network, params, batch, hp, 0.5, config)
    valid_only = jax.tree.map(lambda x: x[:n], batch)
    expected, expected_metrics = grad(network, params, valid_only, hp, 0.5, config)
    for got, want in zip(jax.tree.leaves(masked), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    for name, want in expected_metrics.items():
        np.testing.assert_allclose(masked_metrics[name], want, rtol=1e-4, atol=1e-6)


def test_kl_beta_adapts_to_the_kl_of_the_updated_policy_over_the_whole_batch():
    """Schulman et al. 2017, section 4: after the epochs, d = E[KL(pi_old || pi_new)] over the
    update's batch with the new parameters; beta halves if d < d_targ / 1.5, doubles if
    d > 1.5 d_targ. The test replays each update's rollout and computes d itself."""
    from purejaxrl import envs
    from purejaxrl.networks import make_actor_critic
    from purejaxrl.rollout import collect

    config = PPOConfig(loss="kl", kl_target=5e-4, total_timesteps=8 * 512)
    spec = config.validate()
    hp = hparams(config)
    learner = make_learner(config, spec)
    env = envs.make_batched(spec, config.num_envs)
    network = make_actor_critic(config, spec)
    replay = jax.jit(
        lambda s: collect(env, network, s.params, s.env_state, s.obs, s.key, config.num_steps)[3]
    )
    update = jax.jit(learner.update)
    state = jax.jit(learner.init)(jax.random.key(1), hp)
    decisions = []
    for _ in range(8):
        traj = replay(state)  # the rollout `update` is about to collect, (T, N, ...)
        new_state, metrics = update(state, hp)
        old = jax.nn.log_softmax(traj.dist.logits)
        new = jax.nn.log_softmax(network.apply(new_state.params, traj.obs)[0].logits)
        d = float(np.mean(np.sum(np.exp(old) * (old - new), axis=-1)))
        beta = float(state.kl_beta)
        if d < 5e-4 / 1.5:
            expected, decisions = beta / 2, [*decisions, "halve"]
        elif d > 5e-4 * 1.5:
            expected, decisions = beta * 2, [*decisions, "double"]
        else:
            expected, decisions = beta, [*decisions, "keep"]
        assert float(new_state.kl_beta) == pytest.approx(expected), (decisions, d)
        np.testing.assert_allclose(metrics["update_kl"], d, rtol=1e-3)
        state = new_state
    assert len(set(decisions)) >= 2, decisions  # the run exercises more than one branch


def test_reward_scaling_divides_by_the_running_std_of_discounted_returns_by_hand():
    """Two envs, three steps, gamma 0.5; env 0's episode ends at step 1. G: env 0 (1, 1.5 then
    reset, 2), env 1 (2, 1 + 0.5 * 2 = 2, 2 + 0.5 * 2 = 3) starting from a carried G of 0 and 0;
    the statistics are the fresh ones (mean 0, var 1, count 1e-4) updated with those six G."""
    from purejaxrl.envs.wrappers import RunningMeanStd

    reward = jnp.array([[1.0, 2.0], [1.0, 1.0], [2.0, 2.0]])
    done = jnp.array([[False, False], [True, False], [False, False]])
    fresh = ppo.RewardScale(jnp.zeros(2), RunningMeanStd.create(()))
    scaled, scale = jax.jit(ppo.scale_rewards)(fresh, reward, done, 0.5)
    g = np.array([1.0, 1.5, 2.0, 2.0, 2.0, 3.0])
    count = 1e-4 + 6
    mean = g.sum() / count
    var = (1.0 * 1e-4 + g.var() * 6 + (g.mean() - 0.0) ** 2 * 1e-4 * 6 / count) / count
    np.testing.assert_allclose(float(scale.stats.mean), mean, rtol=1e-5)
    np.testing.assert_allclose(float(scale.stats.var), var, rtol=1e-5)
    np.testing.assert_allclose(scaled, reward / np.sqrt(var + 1e-8), rtol=1e-5)
    np.testing.assert_allclose(scale.returns, [2.0, 3.0])  # carried into the next rollout
    # after a million returns of variance 1, rewards of +-1e4 (std about 14 once added) clip at 10
    settled = ppo.RewardScale(jnp.zeros(2), RunningMeanStd(jnp.float32(0), jnp.float32(1), 1e6))
    big, _ = ppo.scale_rewards(settled, jnp.array([[1e4, -1e4]]), jnp.zeros((1, 2), bool), 0.5)
    np.testing.assert_allclose(big, [[10.0, -10.0]])


def test_reward_scaling_changes_only_the_learning_rewards():
    """With --normalize-rewards the reported episode returns are still the env's (Pendulum's are
    about -1000 to -100, far outside the clip of 10) and the scale is reported; without it the
    state carries no scale."""
    tiny = dict(env_id="Pendulum-v1", total_timesteps=2048, num_envs=4, num_steps=128,
                num_minibatches=2, update_epochs=1, progress=False)  # fmt: skip
    for on in (True, False):
        config = PPOConfig(**tiny, normalize_rewards=on)
        out = jax.jit(ppo.make_train(config))(jax.random.key(0), hparams(config))
        assert np.nanmin(np.asarray(out.metrics["episode_return"])) < -100
        assert ("reward_scale" in out.metrics) == on
        assert (out.state.reward_scale is None) != on
        if on:
            assert (np.asarray(out.metrics["reward_scale"]) > 1).all()
