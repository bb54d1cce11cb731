"""purejaxrl: single-file RL algorithms in JAX, jitted and vmapped end to end.

Each algorithm module (`purejaxrl.ppo`, ...) holds its config, networks, loss and
`make_train(config) -> train(key, hparams)`, and runs from the command line through the shared
runner: `python -m purejaxrl.ppo --env-id CartPole-v1 --num-seeds 8`.

`PUREJAXRL_CPU_DEVICES=N` (read on import, before JAX starts its backends) splits the CPU into N
JAX devices; the runner then shards the runs of a sweep over them. It is off by default: with
jax 0.10.2, programs with two or more runs per CPU device deadlock in XLA's CPU runtime (see
benchmarks/README.md). GPU and TPU devices are used as they are.
"""

import os as _os

__version__ = "0.1.0"


def _split_cpu_into_devices() -> None:
    count = int(_os.environ.get("PUREJAXRL_CPU_DEVICES", "0") or 0)
    if count <= 1:
        return
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        pass  # JAX already initialised its backends (e.g. gymnax was imported first)


_split_cpu_into_devices()
