"""What the envs stepped on the host through envpool (Atari in `envs.atari`, MuJoCo in `envs.mujoco`)
share: importing envpool, checking its options, and one pool for all the runs vmapped over an env.

A host env keeps one envpool pool of `runs` x `num_envs` envs. Its `reset` and `step` are written
for all runs at once (arguments and outputs with a leading (runs,) axis); `over_runs` turns such a
function into one of a single run whose batching rule calls it once for all runs, so the runner's
`jax.vmap` over seeds and grid points reaches envpool as one call.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

LEAKED_VARIABLES = ("MPLBACKEND", "MPLCONFIGDIR")
"""Set by envpool 1.2.5 on import (for its Jumanji renderer); restored so that processes started
later, such as Jupyter kernels, keep drawing their plots."""


def import_envpool(missing: Callable[[str], ImportError], hint: str):
    """envpool, imported with `LEAKED_VARIABLES` restored afterwards.

    Raises:
        `missing(message)`: envpool is not installed; the message starts with `hint`.
    """
    saved = {name: os.environ.get(name) for name in LEAKED_VARIABLES}
    try:
        import envpool
    except ImportError as error:
        raise missing(f"{hint}; importing it failed: {error}") from None
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return envpool


class EnvOptionError(ValueError):
    """Raised for an option the environment does not take, or a value it does not allow (only
    envpool envs take options, besides `obs_keep`; `envs.EnvOptionError` is this class)."""


@dataclass(frozen=True)
class OptionRule:
    """What one envpool option accepts: a bool, a whole number >= `low`, a number in [0, 1], or
    any finite number."""

    kind: Literal["bool", "int", "probability", "real"]
    low: int = 0
    note: str = ""
    """Why the bound is there, appended to the error."""

    def describe(self) -> str:
        if self.kind == "bool":
            return "must be True or False"
        if self.kind == "int":
            return f"must be a whole number >= {self.low}{self.note}"
        if self.kind == "real":
            return f"must be a finite number{self.note}"
        return "must be a number in [0, 1]"

    def allows(self, value: Any) -> bool:
        if self.kind == "bool":
            return isinstance(value, (bool, np.bool_))
        if isinstance(value, (bool, np.bool_)):
            return False  # True is an int to Python, not a count or a probability to a user
        if self.kind == "int":
            return isinstance(value, numbers.Integral) and value >= self.low
        if self.kind == "real":
            return isinstance(value, numbers.Real) and bool(np.isfinite(value))
        return isinstance(value, numbers.Real) and 0.0 <= value <= 1.0  # NaN fails both


class NotVmappedError(RuntimeError):
    """A host env of several runs was reset or stepped outside `jax.vmap` over its runs."""


def over_runs(fn: Callable, runs: int, env_id: str) -> Callable:
    """`fn(*args)`, whose arguments and outputs have a leading (runs,) axis, as a function of
    one run whose batching rule calls `fn` once for all runs.

    With `runs` > 1 the returned function must be vmapped over exactly `runs` runs (one level of
    vmap); called as it is, it raises `NotVmappedError` when run.
    """
    add_axis = lambda tree: jax.tree.map(lambda x: x[None], tree)
    drop_axis = lambda tree: jax.tree.map(lambda x: x[0], tree)

    def refuse():
        raise NotVmappedError(f"this {env_id} env trains {runs} runs together: vmap over them")

    @jax.custom_batching.custom_vmap
    def one_run(*args):
        if runs == 1:
            return drop_axis(fn(*add_axis(args)))
        # traced only for its shapes when vmapped; run as it is, it stops with `refuse`
        broadcast = lambda x: jnp.broadcast_to(x, (runs, *jnp.shape(x)))
        shapes = jax.eval_shape(lambda *a: drop_axis(fn(*jax.tree.map(broadcast, a))), *args)
        return io_callback(refuse, shapes)

    @one_run.def_vmap
    def rule(axis_size, in_batched, *args):
        if axis_size != runs:
            raise ValueError(
                f"this {env_id} env trains {runs} run(s) together and was vmapped over "
                f"{axis_size}: build it for runs={axis_size}"
            )
        leaves, tree = jax.tree.flatten(args)
        leaves = [
            x if batched else jnp.broadcast_to(x, (runs, *jnp.shape(x)))
            for x, batched in zip(leaves, jax.tree.leaves(in_batched), strict=True)
        ]
        out = fn(*jax.tree.unflatten(tree, leaves))
        return out, jax.tree.map(lambda _: True, out)

    return one_run


class HostedEnv:
    """What the envpool adapters (`atari.AtariEnv`, `mujoco.MujocoEnv`) share: `reset` and `step`
    in gymnax's signatures, forwarding to the subclass's `_reset(key_data)` and
    `_step(state, action)`, which step the pool on the host."""

    def reset(self, key: jax.Array):
        """Resets every env on the host. `key` is unused: envpool draws from its own seed."""
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        return self._reset(key)  # the key only carries the run axis under vmap

    def step(self, key: jax.Array, state, action: jax.Array):
        """One step of every env; gymnax's six values, with episode statistics in info."""
        del key
        return self._step(state, action)
