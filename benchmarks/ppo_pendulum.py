"""PPO (continuous, Gaussian policy) on Pendulum-v1: 1e6 steps, 8 seeds; results in benchmarks/results/.

Settings: 16 envs x 256 steps, 10 epochs of 32 minibatches, lr 1e-3 annealed, gamma 0.95,
no entropy bonus (gamma below 0.99 matters on Pendulum; SB3's zoo uses 0.9). The project's
target is a mean final return >= -250 (gymnax-blines report about -130).

    python benchmarks/ppo_pendulum.py
"""

from __future__ import annotations

import common

from purejaxrl import cli, runner
from purejaxrl.ppo import PPOConfig, make_learner

CONFIG = PPOConfig(
    env_id="Pendulum-v1",
    total_timesteps=1_000_000,
    num_envs=16,
    num_steps=256,
    update_epochs=10,
    num_minibatches=32,
    lr=1e-3,
    gamma=0.95,
    ent_coef=0.0,
    num_seeds=8,
    compilation_cache="",
)


def main() -> None:
    result = runner.run(CONFIG, make_learner, "ppo")
    print(cli.format_table(result))
    record = {"command": common.command(), "run_dir": str(result.run_dir), **result.summary}
    common.write_record("ppo_pendulum", record, environment=False)  # the summary holds it


if __name__ == "__main__":
    common.run_on_all_cores(main)
