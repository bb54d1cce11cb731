"""purejaxrl: single-file RL algorithms in JAX, jitted and vmapped end to end.

Each algorithm module (`purejaxrl.ppo`, ...) holds its config, networks, loss and
`make_train(config) -> train(key, hparams)`, and runs from the command line through the shared
runner: `python -m purejaxrl.ppo --env-id CartPole-v1 --num-seeds 8`.

Importing it (or `envs`) splits the CPU backend into one JAX device per core, so that the runner
can shard a multi-seed run over every core: see `envs/__init__.py`.
"""

import envs as _envs  # noqa: F401  (splits the CPU into JAX devices before JAX starts)

__version__ = "0.1.0"
