"""Size of one run's full-state checkpoint for every algorithm at its defaults.

The learner state (`jax.eval_shape` of `learner.init`, nothing is trained or written) is what a
checkpoint holds besides the metrics so far, which are a few floats per update. Atari rows use
each algorithm's Atari defaults; they need the atari extra (envpool), and are left out without it.

    python benchmarks/checkpoint_sizes.py
"""

from __future__ import annotations

import importlib.util

import common
import jax

from purejaxrl import registry
from purejaxrl.hparams import hparams

ATARI = [
    name for name, row in registry.ALGORITHMS.items() if row.config_cls.supports_image_observations
]


def state_bytes(algorithm: registry.Algorithm, config) -> int:
    learner = algorithm.make_learner(config)
    state = jax.eval_shape(learner.init, jax.random.key(0), hparams(config))
    return sum(
        leaf.size
        * (8 if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf.dtype.itemsize)
        for leaf in jax.tree.leaves(state)
    )


def main() -> None:
    rows = []
    for algo, algorithm in registry.ALGORITHMS.items():
        config = algorithm.config_cls()
        rows.append(
            {"algo": algo, "env_id": config.env_id, "bytes": state_bytes(algorithm, config)}
        )
        common.report(rows[-1])
    if importlib.util.find_spec("envpool") is not None:
        for algo in ATARI:
            algorithm = registry.get(algo)
            config = algorithm.config_cls.for_env("Pong-v5")
            rows.append(
                {"algo": algo, "env_id": "Pong-v5", "bytes": state_bytes(algorithm, config)}
            )
            common.report(rows[-1])
    record = {"command": common.command(), "rows": rows}
    common.write_record("checkpoint_sizes", record, environment=False)


if __name__ == "__main__":
    common.run_on_all_cores(main)
