"""Progress of a training run, reported by the host between compiled chunks.

The runner advances every run of a sweep by a chunk of updates at a time (`purejaxrl.runner`), so
progress is reported from the host after each chunk, with no callback inside the compiled program
(which keeps it cacheable by JAX's persistent compilation cache). On a terminal it is a tqdm bar;
otherwise (a log file, a batch job) it prints a plain line about every 10% or every 30 seconds,
whichever comes first, so a log holds a readable handful of lines instead of `\\r` updates.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from typing import TextIO

from tqdm import tqdm

LINE_FRACTION = 0.10
"""Without a terminal: a line at least every 10% of the run..."""
LINE_SECONDS = 30.0
"""...and at least every 30 s."""


class Progress:
    """Env steps done over all runs, their rate and the latest mean return over runs."""

    def __init__(
        self,
        total_steps: int,
        description: str,
        stream: TextIO | None = None,
        terminal: bool | None = None,
        done_steps: int = 0,
    ):
        self.total_steps = total_steps
        self.description = description
        self.stream = sys.stderr if stream is None else stream
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.done_steps = done_steps
        self.last_return = math.nan
        self.bar = None
        self.started = time.perf_counter()
        self.start_steps = done_steps
        self.last_line = (self.started, done_steps)

    def start(self) -> None:
        self.started = time.perf_counter()
        self.last_line = (self.started, self.done_steps)
        if self.terminal:
            self.bar = tqdm(
                total=self.total_steps, initial=self.done_steps, desc=self.description,
                unit="step", unit_scale=True, dynamic_ncols=True, smoothing=0.1, file=self.stream,
            )  # fmt: skip

    def advance(self, done_steps: int, mean_return: float) -> None:
        """After a chunk: env steps done so far (all runs), and the chunk's mean return (or NaN)."""
        self.done_steps = done_steps
        if math.isfinite(mean_return):
            self.last_return = float(mean_return)
        if self.bar is not None:
            self.bar.update(max(0, done_steps - self.bar.n))
            self.bar.set_postfix(mean_return=f"{self.last_return:.1f}", refresh=False)
            return
        now = time.perf_counter()
        last_time, last_steps = self.last_line
        due = (done_steps - last_steps) >= LINE_FRACTION * self.total_steps
        if due or now - last_time >= LINE_SECONDS or done_steps >= self.total_steps:
            self.last_line = (now, done_steps)
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = now - self.started
        rate = (self.done_steps - self.start_steps) / elapsed if elapsed > 0 else math.nan
        percent = 100 * self.done_steps / self.total_steps
        print(
            f"{self.description}: {percent:5.1f}% {self.done_steps:,}/{self.total_steps:,} steps, "
            f"{rate:,.0f} steps/s, {elapsed:.0f} s, mean return {self.last_return:.1f}",
            file=self.stream,
            flush=True,
        )

    @contextlib.contextmanager
    def ticking(self, text: str, every: float | None = None):
        """Shows `text` and the seconds elapsed while the block runs (compiling, which gives no
        other sign of life): on a terminal the line is redrawn every second, in a log a line is
        added every `LINE_SECONDS`. A thread does it, so the block may hold the main thread
        (XLA's compiler releases Python's lock while it works)."""
        every = (1.0 if self.terminal else LINE_SECONDS) if every is None else every
        start = time.perf_counter()
        done = threading.Event()

        def show(final: bool = False) -> None:
            elapsed = time.perf_counter() - start
            if self.terminal:
                self.stream.write(f"\r{text} {elapsed:.0f} s" + ("\n" if final else ""))
                self.stream.flush()
            elif not final:
                print(f"{text} {elapsed:.0f} s so far", file=self.stream, flush=True)

        def tick() -> None:
            while not done.wait(every):
                show()

        if self.terminal:
            self.stream.write(text)
            self.stream.flush()
        else:
            print(text, file=self.stream, flush=True)
        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            show(final=True)

    def message(self, text: str) -> None:
        """One line that does not break the bar."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
