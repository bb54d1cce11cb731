"""Where the runs of a sweep go: one JAX CPU device per core, and the sharding of runs over devices.

XLA runs one compiled loop on one core. Split into several CPU devices, the CPU can run the
shards of a sweep side by side, so every core works. The split must be asked for before JAX starts
its backends, which happens at the first JAX operation, and importing gymnax is one: it builds
arrays at import. So call `split_cpu()` first, before importing gymnax or anything that imports
it (the CLI and the tests' conftest do):

    from purejaxrl.devices import split_cpu
    split_cpu()                     # one device per core; PUREJAXRL_CPU_DEVICES=N chooses N
    from purejaxrl import ppo, runner

Importing `purejaxrl`, an algorithm module or `envs` does not start JAX's backends: `envs` loads
gymnax on first use. GPUs and TPUs are not affected by the split.
"""

from __future__ import annotations

import math
import os
import sys

import jax
import numpy as np

from purejaxrl.checks import ConfigError

CPU_DEVICES_VARIABLE = "PUREJAXRL_CPU_DEVICES"


def requested_cpu_devices() -> int:
    """`PUREJAXRL_CPU_DEVICES` if set to a positive number, else the number of cores."""
    text = os.environ.get(CPU_DEVICES_VARIABLE, "").strip()
    try:
        count = int(text) if text else 0
    except ValueError:
        raise ConfigError(
            f"{CPU_DEVICES_VARIABLE}={text!r}: must be a whole number (1 turns the split off)"
        ) from None
    return count if count > 0 else (os.cpu_count() or 1)


def split_cpu(count: int | None = None) -> bool:
    """Makes JAX's CPU backend `count` devices (default: `requested_cpu_devices()`).

    Returns whether the split took effect: False when `count` is 1 or JAX's backends had already
    started (then JAX keeps the devices it has; `warn_if_cpu_not_split` says so at run time).
    """
    count = requested_cpu_devices() if count is None else count
    if count <= 1:
        return False
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        return False
    return True


def warn_if_cpu_not_split(num_runs: int) -> None:
    """Says on stderr when a multi-run sweep will use one core of several."""
    devices, cores = jax.devices(), os.cpu_count() or 1
    turned_off = os.environ.get(CPU_DEVICES_VARIABLE) == "1"
    single_cpu = devices[0].platform == "cpu" and len(devices) == 1
    if single_cpu and num_runs > 1 and cores > 1 and not turned_off:
        print(
            f"note: JAX has 1 CPU device on a {cores}-core machine, so the {num_runs} runs share "
            "one core; call purejaxrl.devices.split_cpu() before importing gymnax or doing any "
            "JAX work to use every core",
            file=sys.stderr,
        )


def run_sharding(num_runs: int, max_devices: int = 0):
    """(padded run count, input sharding or None): runs split evenly over the devices used.

    Uses every visible device (at most `max_devices` if > 0), never more devices than runs. The
    run count is padded up to a multiple of the device count; the caller drops the padding. In a
    multi-process run (`purejaxrl.distributed`) every device of every process takes part, since
    each process must hold a share of every array.
    """
    devices = jax.devices()
    count = min(len(devices), num_runs, max_devices or len(devices))
    if jax.process_count() > 1:
        count = len(devices)
    if count == 1:
        return num_runs, None
    padded = math.ceil(num_runs / count) * count
    mesh = jax.sharding.Mesh(np.array(devices[:count]), ("runs",))
    return padded, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("runs"))


CPU_OPTIMIZATION_LEVEL = 2
"""LLVM optimisation level of every program the runner compiles for the CPU (XLA's default: 3)."""


def compiler_options() -> dict[str, int]:
    """XLA compiler options of the runner's programs: on the CPU, LLVM -O2 in place of -O3.

    Measured here (jaxlib 0.10.2, one core, CPU time, 8 seeds): PPO CartPole's init compiles in
    5.0 s instead of 12.4 s and its training chunk in 10.4 s instead of 15.0 s; DQN CartPole's chunk
    in 7.7 s instead of 14.8 s, PPO Breakout-MinAtar's in 11.9 s instead of 16.8 s; the compiled
    programs run as fast (within 3%: the matmuls are library calls, and XLA vectorises its own
    loops). The numbers differ from an -O3 program's in the last bits, so compare a run with
    `make_train` jitted with these same options (`jax.jit(train, compiler_options=...)`).
    GPUs and TPUs keep their defaults.
    """
    if jax.default_backend() != "cpu":
        return {}
    return {"xla_backend_optimization_level": CPU_OPTIMIZATION_LEVEL}
