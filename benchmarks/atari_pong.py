"""PPO and DQN training speed on Pong-v5 (envpool) against raw envpool stepping; results in benchmarks/results/.

For each algorithm at its Atari defaults (PPO: 8 envs x 128 steps, 4 epochs of 4 minibatches; DQN:
4 envs, one gradient step of 32 per 4 env steps), it compiles one update, then times
`--updates` updates called one by one from Python (medians reported). The same number of env steps
is then taken by raw envpool stepping with the same number of envs and random actions, both
through the XLA interface in a jitted scan (the ceiling of a jitted training loop) and through
envpool's Python `step` in a Python loop. Time per update = env (raw XLA stepping of as many steps)
+ learner (everything else: network inference, losses, gradients, replay).

    python benchmarks/atari_pong.py [--updates 5] [--repeats 3] [--dqn-steps-per-update 1000]
"""

from __future__ import annotations

import statistics
import time

import common
import jax
import numpy as np

from purejaxrl import dqn, envs, ppo
from purejaxrl.hparams import hparams

ENV_ID = "Pong-v5"


def time_updates(module, config, updates: int) -> dict:
    """Compile time of one update and the wall time of each of `updates` updates, in seconds."""
    learner = module.make_learner(config)
    hp = hparams(config)
    state = jax.jit(learner.init)(jax.random.key(0), hp)
    start = time.perf_counter()
    update = jax.jit(learner.update).lower(state, hp).compile()
    compile_time = time.perf_counter() - start
    times = []
    for _ in range(updates):
        start = time.perf_counter()
        state, metrics = jax.block_until_ready(update(state, hp))
        times.append(time.perf_counter() - start)
    return {"compile_time_s": compile_time, "update_times_s": times}


def python_env_seconds(num_envs: int, steps: int, repeats: int) -> float:
    """The same with envpool's own Python API in a Python loop."""
    env = envs.make_batched(ENV_ID, num_envs)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(repeats):
        env.pool.reset()
        actions = rng.integers(0, env.action_space.n, (steps, num_envs))
        start = time.perf_counter()
        for action in actions:
            env.pool.step(action)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name, module, config, steps_per_update, updates, repeats) -> dict:
    timing = time_updates(module, config, updates)
    update_s = statistics.median(timing["update_times_s"])
    steps_per_env = steps_per_update // config.num_envs
    env_s = steps_per_update / common.env_steps_per_second(
        ENV_ID, config.num_envs, steps_per_env, repeats
    )
    python_s = python_env_seconds(config.num_envs, steps_per_env, repeats)
    row = {
        "algo": name,
        "num_envs": config.num_envs,
        "env_steps_per_update": steps_per_update,
        **timing,
        "update_time_s": update_s,
        "env_time_s": env_s,
        "learner_time_s": update_s - env_s,
        "training_steps_per_second": steps_per_update / update_s,
        "raw_xla_steps_per_second": steps_per_update / env_s,
        "raw_python_steps_per_second": steps_per_update / python_s,
        "ratio_training_to_raw_xla": env_s / update_s,
    }
    common.report(row)
    return row


def main() -> None:
    parser = common.argument_parser(__doc__, updates=5, repeats=3, dqn_steps_per_update=1000)
    args = parser.parse_args()

    ppo_config = ppo.PPOConfig.for_env(ENV_ID, progress=False, compilation_cache="")
    dqn_config = dqn.DQNConfig.for_env(
        ENV_ID,
        steps_per_update=args.dqn_steps_per_update,
        learning_starts=0,  # every timed update learns, as after the warm-up of a real run
        buffer_size=10_000,
        progress=False,
        compilation_cache="",
    )
    rows = [
        measure("ppo", ppo, ppo_config, ppo_config.batch_size, args.updates, args.repeats),
        measure("dqn", dqn, dqn_config, dqn_config.steps_per_update, args.updates, args.repeats),
    ]
    record = {
        "command": common.command(args),
        "env_id": ENV_ID,
        "rows": rows,
    }
    common.write_record("atari_pong", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
