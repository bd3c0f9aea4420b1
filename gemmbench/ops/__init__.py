"""The built-in ops, one module each (declared in pyproject's `gemmbench.ops` entry points)."""
