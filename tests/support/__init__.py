"""Helpers shared by test files (importable: pyproject.toml puts tests/ on the path)."""
