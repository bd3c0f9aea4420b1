"""The `iir_bank` op's filter-bank methods, one module each, registered for the backends they run
on (methods.py). Every prepared bank is a `base.BankRun` (a gemmbench.method.Prepared): `run`,
`reset`, optional `run_native`, `parts`."""
