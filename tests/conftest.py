"""Set-up shared by every test process.

- Splits the CPU into one JAX device per core before any test imports gymnax (which starts JAX),
  as the command line does, so that the tests see the devices a user's run sees.
- One persistent compilation cache for the whole test session: the first test process to compile
  a program stores it, and every other test, xdist worker and subprocess (they inherit
  `JAX_COMPILATION_CACHE_DIR`) loads it instead of compiling again. It is a fresh folder per
  session, removed at the end, so no test depends on what an earlier session compiled. Configs
  in the tests leave `compilation_cache` empty, which keeps the runner from pointing JAX at the
  user's cache.
- The tiers, as markers: `learning` (trains to a return threshold), `process` (starts real
  processes), `notebook` (executes a notebook). `make test-fast` leaves all three out.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import jax

from purejaxrl.devices import split_cpu

split_cpu()

CACHE_VARIABLE = "JAX_COMPILATION_CACHE_DIR"
_made_cache: str | None = None


def pytest_configure(config):
    global _made_cache
    if not os.environ.get(CACHE_VARIABLE):
        _made_cache = tempfile.mkdtemp(prefix="purejaxrl-test-jax-cache-")
        os.environ[CACHE_VARIABLE] = _made_cache  # inherited by xdist workers and subprocesses
    jax.config.update("jax_compilation_cache_dir", os.environ[CACHE_VARIABLE])


def pytest_unconfigure(config):
    if _made_cache is not None:
        shutil.rmtree(_made_cache, ignore_errors=True)
