"""Backends' implementations of the `iir_bank` op, one module each; the backends dispatch on case.op."""
