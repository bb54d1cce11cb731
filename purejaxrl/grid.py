"""Hyperparameter grids: the cartesian product of values of traced fields, one config per point."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from purejaxrl.checks import ConfigError
from purejaxrl.hparams import HParams, hparams, traced_fields


@dataclass(frozen=True)
class Grid:
    """A hyperparameter grid: one config per point, every traced field stacked as an array.

    `points[g]` is the config of grid point g; `hparams().lr` (any traced field) has shape (G,).
    """

    points: tuple[Any, ...]
    axes: dict[str, tuple[float, ...]]

    @classmethod
    def from_values(cls, config, values: Mapping[str, Sequence[float]] | None = None) -> Grid:
        """The cartesian product of `values` (traced field -> list of values) over `config`."""
        values = dict(values or {})
        names = traced_fields(config)
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ConfigError(
                f"{unknown[0]}: not a traced hyperparameter; traced: {', '.join(names)}"
            )
        axes = {name: tuple(float(v) for v in values[name]) for name in names if name in values}
        for name, vals in axes.items():
            if not vals:
                raise ConfigError(f"{name}: needs at least one value")
        points = tuple(
            dataclasses.replace(config, **dict(zip(axes, combo, strict=True)))
            for combo in itertools.product(*axes.values())
        )
        return cls(points, {k: v for k, v in axes.items() if len(v) > 1})

    def __len__(self) -> int:
        return len(self.points)

    def hparams(self) -> HParams:
        """Every traced field stacked over grid points, shape (G,)."""
        return jax.tree.map(lambda *xs: jnp.stack(xs), *[hparams(p) for p in self.points])

    def labels(self) -> list[str]:
        """A short label per grid point naming the swept values, e.g. 'lr=0.001'."""
        if not self.axes:
            return [""]
        return [", ".join(f"{k}={getattr(p, k):g}" for k in self.axes) for p in self.points]
