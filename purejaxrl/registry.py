"""The algorithms, in one table: name -> config class, learner, policy for evaluation.

The command line (`python -m purejaxrl <name>`, the `purejaxrl` script, `python -m purejaxrl.<name>`),
`evaluate` and the contract tests find an algorithm here and nowhere else. A row names its module
and attributes as strings, so reading the table imports no algorithm (and starts no JAX): each
row imports its module on first use.

An algorithm module provides (the names a row points at, these by default):

- `Config`: a frozen dataclass deriving from `purejaxrl.config.BaseConfig`;
- `make_learner(config, spec=None) -> learner.Learner`;
- `make_train(config, spec=None) -> train(key, hp)` (`learner.scan_updates` of the learner);
- `make_policy(config, spec=None) -> act(exported, obs, key) -> action`, the greedy policy that
  `evaluate` plays from a checkpoint's exported parameters;
- optionally (`sampler`), `make_sampling_policy(config, spec=None) -> act(exported, obs, key)`,
  a sample of the policy's distribution, for algorithms whose policy is stochastic
  (`purejaxrl collect --mode stochastic`).

A recurrent policy also needs its memory: its row names `initial_carry(config, spec, num_envs) ->
carry` (the hidden state of `num_envs` fresh episodes), and its `act` is then
`act(exported, obs, key, carry, first) -> (action, carry)`, where `first` (E,) is true where `obs`
is the first observation of an episode (the previous step ended one), so the policy resets its
carry there. Rows without `initial_carry` keep the feed-forward `act`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from typing import Any, Literal

Family = Literal["on-policy", "off-policy", "tabular", "planning", "offline"]
"""The loop an algorithm's update runs: rollouts then epochs of minibatches (on-policy), acting
into a replay buffer with gradient steps on a schedule (off-policy), table updates, self-play
with a tree search at every move, then gradient steps on a replay of its targets (planning), or
gradient steps on a fixed dataset, then evaluation episodes in the env (offline,
`purejaxrl/offline.py`)."""


class UnknownAlgorithmError(ValueError):
    """No registry row has this name; the message lists the names there are."""


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One registry row."""

    name: str
    """The command-line name: `python -m purejaxrl <name>`, runs/<env>/<name>/."""
    module: str
    """The module holding it, e.g. purejaxrl.ppo."""
    family: Family
    """Which loop it runs (the process tests run once per family)."""
    summary: str
    """One line for `python -m purejaxrl --help`."""
    tiny: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Config fields for a run of a few updates and seconds on its default env: what the contract
    tests (tests/purejaxrl/test_contract.py) train every algorithm with."""
    probe: Mapping[str, Any] | None = None
    """Config fields under which it learns the one-step probe envs (envs/probes.py; a few
    seconds), shared by the contract's probe test and the algorithm's own probe tests; None for
    rows that cannot run them (tabular observations)."""
    config: str = "Config"
    learner: str = "make_learner"
    train: str = "make_train"
    policy: str = "make_policy"
    report: str | None = None
    """Optional `report(result: runner.RunResult) -> str | None`: a line printed after the table."""
    sampler: str | None = None
    """For a stochastic policy: `make_sampling_policy(config, spec=None) -> act(exported, obs,
    key)`, which samples the policy's distribution (`collect --mode stochastic`); None if it has
    none."""
    initial_carry: str | None = None
    """For a recurrent policy: `initial_carry(config, spec, num_envs) -> carry`; its `act` is then
    `act(exported, obs, key, carry, first) -> (action, carry)` (see the module docstring)."""

    def _attr(self, name: str) -> Any:
        return getattr(importlib.import_module(self.module), name)

    @property
    def config_cls(self) -> type:
        """The config dataclass."""
        return self._attr(self.config)

    @property
    def make_learner(self) -> Callable:
        """`make_learner(config, spec=None) -> Learner`."""
        return self._attr(self.learner)

    @property
    def make_train(self) -> Callable:
        """`make_train(config, spec=None) -> train(key, hp)`."""
        return self._attr(self.train)

    @property
    def make_policy(self) -> Callable:
        """`make_policy(config, spec=None) -> act(exported, obs, key)`."""
        return self._attr(self.policy)

    @property
    def make_sampler(self) -> Callable | None:
        """`make_sampling_policy(config, spec=None) -> act(exported, obs, key)`, else None."""
        return None if self.sampler is None else self._attr(self.sampler)

    @property
    def recurrent(self) -> bool:
        """Whether its policy carries a memory (`initial_carry`)."""
        return self.initial_carry is not None

    @property
    def make_initial_carry(self) -> Callable | None:
        """`initial_carry(config, spec, num_envs) -> carry` of a recurrent policy, else None."""
        return None if self.initial_carry is None else self._attr(self.initial_carry)

    @property
    def make_report(self) -> Callable | None:
        """The after-run report, if the algorithm has one."""
        return None if self.report is None else self._attr(self.report)


OFFLINE_TINY = {
    "dataset": "random", "random_dataset_steps": 256, "total_timesteps": 4 * 25,
    "steps_per_update": 25, "batch_size": 32, "eval_envs": 2, "hidden_sizes": (16, 16),
}  # fmt: skip
"""The offline rows' tiny settings: a few updates on a small random dataset made on the spot."""

ALGORITHMS: dict[str, Algorithm] = {
    row.name: row
    for row in (
        Algorithm(
            "ppo", "purejaxrl.ppo", "on-policy", "PPO, clipped or adaptive-KL, with GAE",
            sampler="make_sampling_policy",
            tiny={"total_timesteps": 4 * 128 * 4},
            probe={"num_envs": 16, "num_steps": 8, "total_timesteps": 16 * 8 * 150,
                   "update_epochs": 4, "num_minibatches": 2, "lr": 3e-3, "gamma": 0.9,
                   "ent_coef": 0.0, "anneal_lr": False, "hidden_sizes": (32, 32)},
        ),
        Algorithm(
            "a2c", "purejaxrl.a2c", "on-policy", "advantage actor-critic (synchronous A3C)",
            sampler="make_sampling_policy",
            tiny={"total_timesteps": 8 * 5 * 20},
            probe={"num_envs": 16, "num_steps": 8, "total_timesteps": 16 * 8 * 400, "lr": 3e-3,
                   "gamma": 0.9, "optimizer": "adam", "hidden_sizes": (32, 32)},
        ),
        Algorithm(
            "reinforce", "purejaxrl.reinforce", "on-policy", "REINFORCE, with baselines",
            sampler="make_sampling_policy",
            tiny={"total_timesteps": 8 * 1000 * 3, "baseline": "mean"},
            probe={"num_envs": 4, "total_timesteps": 4 * 200 * 150, "lr": 1e-2, "gamma": 0.9,
                   "anneal_lr": False, "hidden_sizes": (32, 32)},
        ),
        Algorithm(
            "pqn", "purejaxrl.pqn", "on-policy", "PQN: parallel Q-learning, Q(lambda)",
            tiny={"total_timesteps": 4 * 16 * 4, "num_envs": 4, "num_steps": 16,
                  "num_minibatches": 2, "hidden_sizes": (32, 32)},
            # Adam, not the default RAdam: RAdam's rectification warms its step size up over
            # thousands of steps (b2 = 0.999), and a probe's 1200 gradient steps leave it short
            probe={"num_envs": 16, "num_steps": 8, "total_timesteps": 16 * 8 * 150,
                   "num_epochs": 4, "num_minibatches": 2, "lr": 3e-3, "optimizer": "adam",
                   "gamma": 0.9, "reward_scale": 1.0, "epsilon_start": 1.0, "epsilon_end": 1.0,
                   "anneal_lr": False, "hidden_sizes": (32, 32)},
        ),
        Algorithm(
            "ppo_rnn", "purejaxrl.ppo_rnn", "on-policy",
            "recurrent PPO (GRU or LSTM) for partially observed tasks",
            tiny={"total_timesteps": 4 * 16 * 4, "num_steps": 16, "num_minibatches": 2,
                  "hidden_sizes": (16,), "rnn_size": 16, "head_sizes": (16,)},
            probe={"num_envs": 16, "num_steps": 8, "total_timesteps": 16 * 8 * 150,
                   "update_epochs": 4, "num_minibatches": 2, "lr": 3e-3, "gamma": 0.9,
                   "ent_coef": 0.0, "anneal_lr": False, "hidden_sizes": (32,), "rnn_size": 32,
                   "head_sizes": (32,)},
            initial_carry="initial_carry",
        ),
        Algorithm(
            "dqn", "purejaxrl.dqn", "off-policy", "DQN and Double DQN with replay",
            tiny={"total_timesteps": 2000, "num_envs": 4, "buffer_size": 500, "batch_size": 32,
                  "learning_starts": 400, "train_frequency": 8, "target_update_interval": 96,
                  "steps_per_update": 400, "epsilon_anneal_steps": 1000},
            probe={"num_envs": 8, "buffer_size": 1000, "batch_size": 64, "learning_starts": 256,
                   "train_frequency": 8, "target_update_interval": 64, "steps_per_update": 800,
                   "total_timesteps": 8000, "lr": 3e-3, "gamma": 0.9, "epsilon_end": 1.0,
                   "hidden_sizes": (32, 32)},
        ),
        Algorithm(
            "ddpg", "purejaxrl.ddpg", "off-policy", "DDPG, and TD3 by its options",
            tiny={"total_timesteps": 600, "steps_per_update": 200, "learning_starts": 200,
                  "batch_size": 32, "buffer_size": 600, "hidden_sizes": (16, 16)},
            probe={"num_envs": 8, "buffer_size": 2000, "batch_size": 64, "learning_starts": 256,
                   "train_frequency": 8, "steps_per_update": 800, "total_timesteps": 8000,
                   "actor_lr": 3e-3, "critic_lr": 3e-3, "gamma": 0.9, "tau": 0.05,
                   "exploration_noise": 0.5, "hidden_sizes": (32, 32)},
        ),
        Algorithm(
            "sac", "purejaxrl.sac", "off-policy", "soft actor-critic, continuous or discrete",
            tiny={"total_timesteps": 600, "steps_per_update": 200, "learning_starts": 200,
                  "batch_size": 32, "buffer_size": 600, "train_frequency": 4,
                  "hidden_sizes": (16, 16)},
            probe={"num_envs": 4, "buffer_size": 2000, "batch_size": 64, "learning_starts": 200,
                   "train_frequency": 4, "steps_per_update": 400, "total_timesteps": 6000,
                   "hidden_sizes": (32, 32), "gamma": 0.9, "actor_lr": 3e-3, "critic_lr": 3e-3,
                   "autotune": False, "initial_alpha": 1e-3},
        ),
        Algorithm(
            "awr", "purejaxrl.awr", "off-policy",
            "AWR: advantage-weighted regression, online (a FIFO buffer of recent samples)",
            tiny={"total_timesteps": 600, "num_envs": 4, "buffer_size": 400, "batch_size": 32,
                  "train_frequency": 200, "steps_per_update": 200, "critic_steps": 5,
                  "actor_steps": 5, "hidden_sizes": (16, 16)},
            probe={"num_envs": 8, "buffer_size": 2000, "batch_size": 64, "train_frequency": 256,
                   "steps_per_update": 256, "total_timesteps": 256 * 20, "critic_steps": 50,
                   "actor_steps": 100, "actor_lr": 1e-2, "critic_lr": 1e-2, "gamma": 0.9,
                   "hidden_sizes": (32, 32)},
            sampler="make_sampling_policy",
        ),
        Algorithm(
            "gail", "purejaxrl.gail", "on-policy",
            "GAIL: PPO on a discriminator's reward, imitating a dataset's expert episodes",
            sampler="make_sampling_policy", report="dataset_report",
            tiny={"dataset": "random", "random_dataset_steps": 256, "total_timesteps": 4 * 32 * 4,
                  "num_steps": 32, "num_minibatches": 2, "hidden_sizes": (16, 16),
                  "disc_hidden_sizes": (16, 16), "disc_minibatches": 2},
        ),  # no probe: the reward is learned from a dataset, and a random one is all a row can
        # name; test_gail.py imitates a dataset of a probe's rewarded actions instead
        Algorithm(
            "q_learning", "purejaxrl.q_learning", "tabular", "tabular Q-learning and SARSA",
            tiny={"env_id": "Gridworld-Lizard-v0", "total_timesteps": 4000},
            report="value_iteration_report",
        ),
        Algorithm(
            "alphazero", "purejaxrl.alphazero", "planning",
            "AlphaZero: MCTS self-play on pgx board games (needs the planning extra)",
            tiny={"total_timesteps": 8 * 9 * 3, "num_envs": 8, "num_steps": 9,
                  "num_simulations": 4, "buffer_size": 256, "batch_size": 16,
                  "gradient_steps": 2, "hidden_sizes": (16,)},
        ),  # no probe: its envs are two-player games, not the one-step probes; tiny keeps its
        #     games across updates (the default), so the contract resumes the games in play too
        Algorithm(
            "alphazero_mdp", "purejaxrl.alphazero_mdp", "planning",
            "AlphaZero on single-agent gymnax envs, the env as the search's model (needs mctx)",
            tiny={"total_timesteps": 4 * 8 * 3, "num_envs": 4, "num_steps": 8,
                  "num_simulations": 4, "buffer_size": 128, "batch_size": 16,
                  "gradient_steps": 2, "hidden_sizes": (16,)},
            probe={"num_envs": 16, "num_steps": 4, "total_timesteps": 16 * 4 * 40,
                   "num_simulations": 4, "buffer_size": 1024, "batch_size": 64,
                   "gradient_steps": 4, "hidden_sizes": (32, 32), "lr": 3e-3,
                   "value_scale": 1.0},
        ),
        Algorithm(
            "muzero", "purejaxrl.muzero", "planning",
            "MuZero: search with a learned model on single-agent gymnax envs (needs mctx)",
            tiny={"total_timesteps": 4 * 8 * 3, "num_envs": 4, "num_steps": 8,
                  "num_simulations": 4, "buffer_size": 128, "batch_size": 16,
                  "gradient_steps": 2, "hidden_sizes": (16,), "latent_size": 8,
                  "unroll_steps": 3},
            probe={"num_envs": 16, "num_steps": 4, "total_timesteps": 16 * 4 * 40,
                   "num_simulations": 4, "buffer_size": 1024, "batch_size": 64,
                   "gradient_steps": 4, "hidden_sizes": (32,), "latent_size": 16,
                   "unroll_steps": 2, "lr": 3e-3, "value_scale": 1.0},
        ),
        Algorithm(
            "bc", "purejaxrl.bc", "offline",
            "behaviour cloning of a dataset (purejaxrl collect makes one)",
            sampler="make_sampling_policy", report="dataset_report",
            tiny=OFFLINE_TINY,
        ),  # no probe: it imitates its dataset, and a random one is all a row can name; test_bc.py
        # clones a dataset of the probe's rewarded actions instead
        Algorithm(
            "awr_offline", "purejaxrl.awr_offline", "offline",
            "AWR on a dataset: value regression, then advantage-weighted policy regression",
            sampler="make_sampling_policy", report="dataset_report",
            tiny=OFFLINE_TINY,
            # a random dataset of the probe: the weights pick out the rewarded actions
            probe={"dataset": "random", "random_dataset_steps": 2048, "total_timesteps": 1000,
                   "steps_per_update": 500, "batch_size": 64, "hidden_sizes": (32, 32)},
        ),
    )
}  # fmt: skip
"""Every algorithm, by command-line name. Adding one: its module plus one row here."""


def get(name: str) -> Algorithm:
    """The row of `name`; `UnknownAlgorithmError` naming the known ones otherwise."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise UnknownAlgorithmError(
            f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}"
        ) from None
