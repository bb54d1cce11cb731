"""A progress bar for a compiled training loop, fed by a host callback a bounded number of times.

The runner calls `update(i, mean_return)` from inside the jitted loop (through
`jax.debug.callback`, outside the vmap over runs, at most `progress_ticks` times per run). It shows
env steps done over all runs, their rate, and the latest mean return over runs.
"""

from __future__ import annotations

import math
import time

from tqdm import tqdm


class ProgressBar:
    def __init__(self, total_steps: int, steps_per_update: int, description: str):
        self.total_steps = total_steps
        self.steps_per_update = steps_per_update
        self.description = description
        self.bar = None
        self.last_return = math.nan
        self.calls = 0

    def start(self) -> None:
        self.bar = tqdm(
            total=self.total_steps, desc=self.description, unit="step", unit_scale=True,
            dynamic_ncols=True, smoothing=0.1,
        )  # fmt: skip
        self.started = time.perf_counter()

    def update(self, update_index, mean_return) -> None:
        """Host side of the callback: `update_index` is 0-based, `mean_return` may be NaN."""
        self.calls += 1
        if self.bar is None:
            return
        done = (int(update_index) + 1) * self.steps_per_update
        if math.isfinite(float(mean_return)):
            self.last_return = float(mean_return)
        self.bar.update(max(0, done - self.bar.n))
        self.bar.set_postfix(mean_return=f"{self.last_return:.1f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
