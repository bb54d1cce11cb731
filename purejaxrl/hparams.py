"""Traced hyperparameters: numbers that reach the compiled program as arrays, not constants.

A config field declared `traced(default)` is not baked into the compiled program: `train(key, hp)`
receives every traced field in `hp`, a NamedTuple of float32 arrays (`hp.lr`, `hp.gamma`) built by
`hparams(config)` and typed per algorithm by `hparams_type` (PPO's is `PPOHParams`). A grid of
values then trains in the same compiled call as the seeds, each run reading its own values.

Inside an algorithm the config is read through `static_view`: its traced fields hold one grid
point's values only, so reading them there is refused with an error that names `hp.<field>`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any

import jax.numpy as jnp

HParams = Any
"""A config's traced hyperparameters: an instance of `hparams_type(ConfigClass)`, a NamedTuple
with one field per traced field; scalars for one run, shape (R,) for R runs."""


class TracedFieldError(RuntimeError):
    """A traced hyperparameter was read from the config inside a learner instead of from `hp`."""


def traced(default: float) -> Any:
    """Declares a numeric hyperparameter that is passed to `train` as an array, not compiled in."""
    return dataclasses.field(default=default, metadata={"traced": True})


def traced_fields(config_cls_or_obj) -> tuple[str, ...]:
    """Names of the traced fields of a config class or instance, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(config_cls_or_obj) if f.metadata.get("traced"))


@functools.cache
def hparams_type(config_cls: type) -> type:
    """The NamedTuple of `config_cls`'s traced fields, e.g. `PPOHParams(lr, gamma, ...)`.

    A pytree, so it vmaps and stacks like any other; a misspelt field is an AttributeError when
    the learner is traced, not a silent default.
    """
    names = traced_fields(config_cls)
    name = config_cls.__name__.removesuffix("Config") + "HParams"
    base = collections.namedtuple(name, names)

    def _replace(self, **values):
        """A copy with `values` replaced; Python numbers become float32 like `hparams`'s, so
        `hp._replace(lr=1e-3)` reaches a jitted `train` in the type it was compiled for (a
        weakly typed Python float would make JAX compile it again)."""
        return base._replace(self, **{k: as_traced(v) for k, v in values.items()})

    cls = type(name, (base,), {"__slots__": (), "_replace": _replace})
    cls.__doc__ = f"Traced hyperparameters of {config_cls.__name__}: {', '.join(names)}."
    cls.__module__ = config_cls.__module__
    return cls


def as_traced(value):
    """A Python number as a float32 scalar (what `hparams` makes); anything else unchanged."""
    return jnp.float32(value) if isinstance(value, int | float) else value


def hparams(config) -> HParams:
    """The config's traced values as float32 scalars: the `hp` of a single run."""
    values = [jnp.float32(getattr(config, name)) for name in traced_fields(config)]
    return hparams_type(type(config))(*values)


class StaticView:
    """A config as a learner sees it: static fields and properties read through, traced refused.

    `make_learner` works from this view; the per-run values of traced fields arrive as `hp`.
    """

    __slots__ = ("_config", "_traced")

    def __init__(self, config):
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_traced", frozenset(traced_fields(config)))

    def __getattr__(self, name: str):
        if name in self._traced:
            raise TracedFieldError(
                f"config.{name} is a traced hyperparameter: read hp.{name} inside the learner "
                "(the config holds one grid point's value, hp holds each run's)"
            )
        return getattr(self._config, name)

    def __setattr__(self, name: str, value) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __repr__(self) -> str:
        return f"StaticView({self._config!r})"

    @property
    def config(self):
        """The config itself, traced fields included (for outputs, never for training)."""
        return self._config


def static_view(config) -> StaticView:
    """`config` behind a `StaticView` (unchanged if it already is one)."""
    return config if isinstance(config, StaticView) else StaticView(config)
