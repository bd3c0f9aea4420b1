"""The machine: ISA levels, CPU identity and simulation, caches, compiled C, the roofline."""
