"""purejaxrl: single-file RL algorithms in JAX, jitted and vmapped end to end.

Each algorithm module (`purejaxrl.ppo`, ...) holds its config, loss and
`make_train(config) -> train(key, hp)`, and runs from the command line through the shared
runner: `python -m purejaxrl.ppo --env-id CartPole-v1 --num-seeds 8`. What several algorithms
share has a module of its own: networks, distributions, replay, returns, the on-policy rollout
and the off-policy loop (`offpolicy`, for DQN, DDPG and SAC).

Importing it has no side effects on JAX. To spread a sweep over every CPU core from Python, call
`purejaxrl.devices.split_cpu()` before importing gymnax or doing any JAX work (the command line
does it for you).
"""

__version__ = "0.1.0"
