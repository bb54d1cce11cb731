"""purejaxrl: single-file RL algorithms in JAX, jitted and vmapped end to end.

Each algorithm module (`purejaxrl.ppo`, ...) holds its config, loss and
`make_train(config) -> train(key, hp)`. What several algorithms share has a module of its own:
networks, distributions, replay, returns, the on-policy rollout and the off-policy loop
(`offpolicy`, for DQN, DDPG and SAC). `purejaxrl.registry` lists the algorithms, and the shared
runner runs any of them from the command line:
`python -m purejaxrl ppo --env-id CartPole-v1 --num-seeds 8` (or `python -m purejaxrl.ppo ...`).

Importing it has no side effects on JAX. To spread a sweep over every CPU core from Python, call
`purejaxrl.devices.split_cpu()` before importing gymnax or doing any JAX work (the command line
does it for you).
"""

__version__ = "0.1.0"
