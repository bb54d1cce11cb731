"""Sweeps over several processes and hosts with `jax.distributed`.

    # two processes on one machine (a try-out before a cluster), one CPU device each
    PUREJAXRL_CPU_DEVICES=1 python -m purejaxrl.ppo --num-seeds 8 \\
        --num-processes 2 --process-id 0 --coordinator-address localhost:1234 &
    PUREJAXRL_CPU_DEVICES=1 python -m purejaxrl.ppo --num-seeds 8 \\
        --num-processes 2 --process-id 1 --coordinator-address localhost:1234

Every process runs the same command. `initialize` starts JAX's distributed runtime (its
coordinator runs in process 0); JAX then sees the devices of every process as one list, and the
runner shards the runs of the sweep over all of them: each process computes the runs on its own
devices. Under SLURM or Open MPI, JAX finds the process count, index and coordinator by itself
(`jax.distributed.initialize()` with no arguments); the flags override it.

Between chunks the processes check in with each other through the coordinator's key-value store
(`check_in`): if one has not arrived within `timeout_s` after the others, they stop, naming the
lost process, instead of waiting forever in the next collective. The metrics of every run are
then gathered to every process (`jax.experimental.multihost_utils.process_allgather`); process 0
alone writes the run folder, the table, the plots and TensorBoard; every process takes part in the
orbax checkpoints.

On the CPU, cross-process collectives need an implementation: gloo, set before initialising.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

from purejaxrl.checks import ConfigError

DEFAULT_TIMEOUT_S = 90
AFTER_FAILURE_TIMEOUT_S = 10


class LostProcessError(RuntimeError):
    """Another process of a multi-process run stopped answering."""


@dataclass(frozen=True)
class ProcessOptions:
    """Where this process stands in a multi-process run (from the command line)."""

    num_processes: int | None = None
    process_id: int | None = None
    coordinator_address: str | None = None
    timeout_s: int = DEFAULT_TIMEOUT_S

    @property
    def explicit(self) -> bool:
        return any(
            v is not None for v in (self.num_processes, self.process_id, self.coordinator_address)
        )


def process_options(
    num_processes: int | None,
    process_id: int | None,
    coordinator_address: str | None,
    timeout_s: int = DEFAULT_TIMEOUT_S,
) -> ProcessOptions:
    """The command line's multi-process flags (`--num-processes`, ...), checked.

    Raises:
        ConfigError: a value out of range, an incomplete set, or a process id outside
            [0, num_processes).
    """
    for flag, value, low in (
        ("--num-processes", num_processes, 1),
        ("--process-id", process_id, 0),
        ("--process-timeout", timeout_s, 1),
    ):
        if value is not None and value < low:
            raise ConfigError(f"{flag}={value}: must be >= {low}")
    options = ProcessOptions(num_processes, process_id, coordinator_address, timeout_s)
    if options.explicit:
        given = {
            "--num-processes": options.num_processes,
            "--process-id": options.process_id,
            "--coordinator-address": options.coordinator_address,
        }
        missing = [flag for flag, v in given.items() if v is None]
        if missing:
            raise ConfigError(
                f"{missing[0]}: a multi-process run needs --num-processes, --process-id and "
                "--coordinator-address HOST:PORT together"
            )
        if options.process_id >= options.num_processes:
            raise ConfigError(
                f"--process-id={options.process_id}: must be in [0, --num-processes="
                f"{options.num_processes})"
            )
        host, _, port = options.coordinator_address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                f"--coordinator-address={options.coordinator_address!r}: must be HOST:PORT"
            )
    return options


def detected() -> bool:
    """Whether a cluster launcher JAX detects by itself started several processes."""
    slurm = int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_JOB_ID" in os.environ
    mpi = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1") or 1) > 1
    return slurm or mpi


def initialize(options: ProcessOptions) -> bool:
    """Starts `jax.distributed` when the flags ask for several processes or a launcher (SLURM,
    Open MPI) started several; returns whether it did. Call before any JAX computation."""
    import jax

    if options.explicit and options.num_processes == 1:
        return False
    if not options.explicit and not detected():
        return False
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {}
    if options.explicit:
        kwargs = {
            "coordinator_address": options.coordinator_address,
            "num_processes": options.num_processes,
            "process_id": options.process_id,
        }
    # JAX's runtime aborts with a C++ stack that never names the address when the coordinator
    # or a peer does not come: a watchdog says so in one line before it would
    watchdog = threading.Timer(options.timeout_s, _no_contact, args=(options,))
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(
            **kwargs,
            initialization_timeout=options.timeout_s + 60,
            # the runtime's own failure detection aborts the process: it must not fire before
            # ours, which takes up to timeout_s + AFTER_FAILURE_TIMEOUT_S (a barrier, then
            # `collective`)
            heartbeat_timeout_seconds=options.timeout_s + AFTER_FAILURE_TIMEOUT_S + 60,
        )
    finally:
        watchdog.cancel()
    return True


def _no_contact(options: ProcessOptions) -> None:
    """The watchdog of `initialize`: one line on stderr, then exit code 3 at once (JAX's
    shutdown would wait for the missing processes)."""
    address = options.coordinator_address or "the address the cluster launcher gave"
    if options.process_id == 0:
        what = (
            f"process 0 started the coordinator at {address}, but not all "
            f"{options.num_processes} processes joined within {options.timeout_s} s"
        )
    else:
        what = (
            f"process {options.process_id if options.explicit else '?'} could not join the "
            f"coordinator at {address} within {options.timeout_s} s (is process 0 running, "
            "at that address?)"
        )
    sys.stderr.write(f"error: {what}; see --process-timeout\n")
    sys.stderr.flush()
    os._exit(3)


def agree(record: dict, timeout_s: float) -> None:
    """Checks that every process resolved the same `record` (a JSON-able dict: the config, the
    grid, the seeds; anything that must not differ): each process compares its own with process
    0's, and process 0 with everyone's, at start-up, before anything is written.

    Raises:
        ConfigError: naming the first differing entry and its value in both processes.
        LostProcessError: a process did not answer within `timeout_s`.
    """
    import jax

    if jax.process_count() == 1:
        return
    global _agreements
    _agreements += 1
    tag = f"agree-{_agreements}"
    mine = json.dumps(record, sort_keys=True, default=str)
    client = _client()
    me = jax.process_index()
    client.key_value_set(f"purejaxrl/{tag}/{me}", mine)
    for other in range(1, jax.process_count()) if me == 0 else [0]:
        theirs = _wait_for_key(client, f"purejaxrl/{tag}/{other}", tag, other, timeout_s)
        if theirs != mine:
            name, a, b = first_difference(json.loads(mine), json.loads(theirs))
            name = name.removeprefix("config.")  # the config's fields are the options' names
            raise ConfigError(
                f"{name}: {a!r} in process {me}, {b!r} in process {other}: every process of a "
                "run must be started with the same options"
            )


_agreements = 0


def first_difference(a, b, name: str = "") -> tuple[str, object, object]:
    """(dotted name, value in a, value in b) of the first entry where two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return first_difference(a.get(key), b.get(key), f"{name}.{key}" if name else key)
    return name or "the record", a, b


def process_count() -> int:
    import jax

    return jax.process_count()


def is_primary() -> bool:
    """Whether this process writes the run folder (process 0; always true on one process)."""
    import jax

    return jax.process_index() == 0


def check_in(tag: str, timeout_s: float, stop: bool = False) -> bool:
    """Waits until every process has reached the point named `tag`, at most `timeout_s` seconds
    after this one did; returns whether any of them asks to stop (`stop`: a signal it received),
    so that all stop together.

    Raises:
        LostProcessError: naming the first process that did not arrive in time.
    """
    import jax

    if jax.process_count() == 1:
        return stop
    client = _client()
    me = jax.process_index()
    client.key_value_set(f"purejaxrl/{tag}/{me}", "stop" if stop else "go")
    answers = [stop]
    for other in range(jax.process_count()):
        if other != me:
            answer = _wait_for_key(client, f"purejaxrl/{tag}/{other}", tag, other, timeout_s)
            answers.append(answer == "stop")
    return any(answers)


def _client():
    """JAX's distributed runtime client (its key-value store)."""
    from jax._src import distributed

    return distributed.global_state.client


def _wait_for_key(client, key: str, tag: str, other: int, timeout_s: float) -> str:
    """The value process `other` set under `key`; `LostProcessError` after `timeout_s`."""
    import jax

    try:
        return client.blocking_key_value_get(key, int(timeout_s * 1000))
    except Exception:  # the runtime raises a generic error on timeout or a lost coordinator
        raise LostProcessError(
            f"process {other} of {jax.process_count()} did not reach {tag} within "
            f"{timeout_s:.0f} s of process {jax.process_index()}: it stopped or hangs; the last "
            "checkpoint, if any, is kept (resume with the same command plus --resume RUN_DIR)"
        ) from None


@contextlib.contextmanager
def collective(what: str, timeout_s: float):
    """Names the lost process when a cross-process operation (a metric gather, orbax's checkpoint
    sync) fails because another process died in the middle of it.

    gloo then reports a broken connection ("Connection reset by peer"), and orbax a barrier that
    timed out after `timeout_s`, not which process is gone: every process checks in (`check_in`),
    and the one that does not answer is named in the `LostProcessError`. A live process meets
    the same failure at about the same time, so that check-in waits at most
    `AFTER_FAILURE_TIMEOUT_S`. On one process, errors pass through unchanged.
    """
    import jax

    try:
        yield
    except LostProcessError:
        raise
    except Exception as error:
        if jax.process_count() == 1:
            raise
        # raises LostProcessError naming the lost process
        check_in(f"after-failed-{what}", min(timeout_s, AFTER_FAILURE_TIMEOUT_S))
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LostProcessError(
            f"{what} failed on process {jax.process_index()} of {jax.process_count()}: {first}"
        ) from None


def share_text(text: str | None, size: int = 1024) -> str:
    """Process 0's `text` on every process (e.g. the run folder it created)."""
    import jax
    from jax.experimental import multihost_utils

    if jax.process_count() == 1:
        return text or ""
    data = np.zeros(size, np.uint8)
    if text:
        encoded = text.encode()[:size]
        data[: len(encoded)] = np.frombuffer(encoded, np.uint8)
    data = np.asarray(multihost_utils.broadcast_one_to_all(data))
    return bytes(data[data != 0]).decode()


def gather(tree):
    """Every process's shards of `tree` (global arrays) as full numpy arrays on every process."""
    import jax
    from jax.experimental import multihost_utils

    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree)
    return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))


def say(text: str) -> None:
    """Prints on stderr from process 0 only."""
    if is_primary():
        print(text, file=sys.stderr, flush=True)
