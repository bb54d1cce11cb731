"""Splits the CPU into one JAX device per core before any test imports gymnax (which starts JAX),
as the command line does, so that the tests see the devices a user's run sees."""

from purejaxrl.devices import split_cpu

split_cpu()
