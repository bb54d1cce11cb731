"""GAIL: the discriminator's loss and the reward by hand, the direction a discriminator step moves
the reward, the cut to N whole expert episodes, the action features, and imitation on a probe
whose expert plays against the env's reward (so that only the discriminator's reward can teach
what it learns)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import collect, datasets, envs, gail
from purejaxrl.config import ConfigError, hparams
from purejaxrl.networks import Critic

QUIET = {"progress": False, "compilation_cache": "", "eval_episodes": 0}


def test_the_discriminator_loss_and_the_reward_equal_their_values_worked_by_hand():
    # expert logits (0, 2): -ln sigmoid = ln 2 = 0.693147, ln(1 + e^-2) = 0.126928
    # policy logits (-1, 1): -ln(1 - sigmoid) = ln(1 + e^-1) = 0.313262, ln(1 + e) = 1.313262
    value = gail.discriminator_loss(jnp.array([0.0, 2.0]), jnp.array([-1.0, 1.0]))
    assert float(value) == pytest.approx((0.693147 + 0.126928) / 2 + (0.313262 + 1.313262) / 2,
                                         abs=1e-5)  # fmt: skip
    # its gradient: (sigmoid(x) - 1) / B on expert logits, sigmoid(x) / B on the policy's
    grad_expert, grad_policy = jax.grad(gail.discriminator_loss, argnums=(0, 1))(
        jnp.array([0.0, 2.0]), jnp.array([-1.0, 1.0])
    )
    np.testing.assert_allclose(grad_expert, [-0.5 / 2, (0.880797 - 1) / 2], atol=1e-5)
    np.testing.assert_allclose(grad_policy, [0.268941 / 2, 0.731059 / 2], atol=1e-5)
    # the reward rises with D: -ln(1 - D) = softplus(logit) > 0, or the logit itself
    logits = jnp.array([-2.0, 0.0, 2.0])
    np.testing.assert_allclose(gail.gail_reward(logits), [0.126928, 0.693147, 2.126928], atol=1e-5)
    np.testing.assert_allclose(gail.gail_reward(logits, "logit"), logits)
    # PPO sees it as data: no gradient flows back into the discriminator through it
    assert float(jax.grad(lambda x: gail.gail_reward(x).sum())(logits).sum()) == 0.0


def test_a_discriminator_step_raises_the_reward_of_expert_pairs_and_lowers_the_policys():
    """One gradient step of the loss on a Critic discriminator: the reward of the expert's pairs
    goes up and that of the policy's pairs goes down, each pair scored before and after."""
    disc = Critic((16,), "tanh")
    expert_obs, expert_act = jnp.array([[1.0, 0.0], [0.5, 0.5]]), jnp.array([[1.0], [0.8]])
    policy_obs, policy_act = jnp.array([[-1.0, 0.0], [0.0, -0.5]]), jnp.array([[-1.0], [0.2]])
    params = disc.init(jax.random.key(0), expert_obs, expert_act)

    def loss(params):
        return gail.discriminator_loss(
            disc.apply(params, expert_obs, expert_act), disc.apply(params, policy_obs, policy_act)
        )

    grads = jax.grad(loss)(params)
    stepped = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)

    def rewards(params):
        return (gail.gail_reward(disc.apply(params, expert_obs, expert_act)),
                gail.gail_reward(disc.apply(params, policy_obs, policy_act)))  # fmt: skip

    (expert_before, policy_before), (expert_after, policy_after) = rewards(params), rewards(stepped)
    assert (expert_after > expert_before).all() and (policy_after < policy_before).all()
    assert float(loss(stepped)) < float(loss(params))


def hand_dataset() -> datasets.Dataset:
    """Two streams on CartPole's spec: stream 0 holds episodes of 3 (terminal) and 2 (timeout)
    rows, then 1 row cut by the stream's end; stream 1 an episode of 2 rows (terminal), then 2 cut
    ones. Row i has reward i."""
    spec = envs.spec("CartPole-v1")
    rows = 10
    flags = {name: np.zeros(rows, bool) for name in ("terminals", "timeouts", "stream_ends")}
    flags["terminals"][[2, 7]] = True
    flags["timeouts"][4] = True
    flags["stream_ends"][[5, 9]] = True
    arrays = {
        "observations": np.arange(rows * 4, dtype=np.float32).reshape(rows, 4),
        "actions": np.arange(rows, dtype=np.int32) % 2,
        "rewards": np.arange(rows, dtype=np.float32),
        "next_observations": np.zeros((rows, 4), np.float32),
        **flags,
        "episode_returns": np.array([3.0, 13.0, 7.0], np.float32),
        "episode_lengths": np.array([3, 2, 2], np.int32),
    }
    metadata = {"split": "expert", "env": datasets.spec_record(spec), "source": {"test": 1}}
    return datasets.Dataset(arrays, metadata)


def test_the_expert_data_is_cut_to_the_first_n_whole_episodes():
    dataset = hand_dataset()
    assert datasets.complete_episodes(dataset) == [(0, 2), (3, 4), (6, 7)]
    cut = datasets.first_episodes(dataset, 3)
    datasets.check(cut)
    np.testing.assert_array_equal(cut.rewards, [0, 1, 2, 3, 4, 6, 7])
    np.testing.assert_array_equal(cut.observations[:, 0], [0, 4, 8, 12, 16, 24, 28])
    np.testing.assert_array_equal(np.flatnonzero(cut.stream_ends), [2, 4, 6])
    np.testing.assert_array_equal(cut.terminals, [0, 0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(cut.timeouts, [0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(cut.episode_returns, [3, 7, 13])
    np.testing.assert_array_equal(cut.episode_lengths, [3, 2, 2])
    assert cut.metadata["source"] == {"test": 1, "first_episodes": 3}
    assert len(datasets.first_episodes(dataset, 1)) == 3
    with pytest.raises(datasets.DatasetError, match="holds 3 complete episodes, fewer than the 4"):
        datasets.first_episodes(dataset, 4)


def test_a_config_asking_for_more_episodes_than_the_data_holds_is_refused_in_one_line():
    config = gail.GAILConfig(dataset="random", random_dataset_steps=64, expert_episodes=1000)
    with pytest.raises(
        ConfigError, match=r"expert_episodes=1000: random holds 0 complete episodes"
    ) as error:
        config.validate()
    assert "\n" not in str(error.value)


def test_a_run_records_its_dataset_digest_so_that_a_resume_refuses_changed_data(tmp_path):
    path = str(datasets.save(tmp_path / "data", hand_dataset()))
    config = gail.GAILConfig(dataset=path)
    assert config.checkpoint_facts() == {"dataset_sha256": datasets.digest(path)}
    assert gail.GAILConfig(dataset="random").checkpoint_facts() == {}


def test_actions_enter_the_discriminator_one_hot_or_clipped_and_scaled_to_unit_range():
    discrete = gail.action_features(envs.spec("CartPole-v1"))
    np.testing.assert_array_equal(discrete(jnp.array([[0, 1]])), [[[1, 0], [0, 1]]])
    box = gail.action_features(envs.spec("Pendulum-v1"))  # Box [-2, 2], shape (1,)
    np.testing.assert_allclose(box(jnp.array([[[3.0], [-1.0]]])), [[[1.0], [-0.5]]])


@pytest.mark.learning
def test_gail_imitates_an_expert_that_plays_against_the_env_reward(tmp_path):
    """On Probe-ObsActionReward-v0 the env pays 1 for the action matching the sign of the
    observation; the expert data takes the other action. Trained on the discriminator's reward,
    the greedy policy takes the expert's action in both observations, so its episodes earn the
    env's reward 0: the env's reward cannot have reached it."""
    env_id = "Probe-ObsActionReward-v0"
    spec = envs.spec(env_id)

    def against(exported, obs, key):
        return (obs[:, 0] < 0).astype(jnp.int32)  # the rewarded action is (obs > 0)

    arrays = collect.collect(against, (), spec, 8, 64, jax.random.key(1))
    metadata = {"split": "custom", "env": datasets.spec_record(spec), "source": {"test": env_id}}
    path = str(datasets.save(tmp_path / "against", datasets.Dataset(arrays, metadata)))
    assert datasets.load(path).mean_return() == 0.0
    config = gail.GAILConfig(
        env_id=env_id, dataset=path, expert_episodes=100, num_envs=16, num_steps=8,
        total_timesteps=16 * 8 * 100, num_minibatches=2, lr=3e-3, gamma=0.9, ent_coef=0.0,
        anneal_lr=False, hidden_sizes=(32, 32), disc_hidden_sizes=(32,), disc_lr=3e-3, **QUIET,
    )  # fmt: skip
    config.validate()
    out = jax.jit(gail.make_train(config))(jax.random.key(0), hparams(config))
    exported = gail.make_learner(config).export(out.state)
    action = gail.make_policy(config)(exported, jnp.array([[1.0], [-1.0]]), None)
    np.testing.assert_array_equal(action, [0, 1])
    assert float(np.asarray(out.metrics["episode_return"][-10:]).mean()) < 0.05
    assert float(np.asarray(out.metrics["disc_loss"][-1])) > 1.0  # D can no longer tell them apart
