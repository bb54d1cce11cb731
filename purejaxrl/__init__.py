"""purejaxrl: single-file RL algorithms in JAX, jitted and vmapped end to end.

Each algorithm module (`purejaxrl.ppo`, ...) holds its config, networks, loss and
`make_train(config) -> train(key, hparams)`, and runs from the command line through the shared
runner: `python -m purejaxrl.ppo --env-id CartPole-v1 --num-seeds 8`.

On import, the CPU backend is split into one JAX device per core (`PUREJAXRL_CPU_DEVICES=N` to
choose N, 1 to turn it off), because XLA runs one compiled loop on one core: the runner shards a
multi-seed run over these devices so that every core works. This only takes effect if JAX has not
started its backends yet (import purejaxrl before gymnax or any JAX computation). GPU and TPU
devices are used as they are.
"""

import os as _os

__version__ = "0.1.0"


def _split_cpu_into_devices() -> None:
    count = int(_os.environ.get("PUREJAXRL_CPU_DEVICES", "0") or 0) or (_os.cpu_count() or 1)
    if count <= 1:
        return
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        pass  # JAX already initialised its backends (e.g. gymnax was imported first)


_split_cpu_into_devices()
