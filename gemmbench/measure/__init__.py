"""How a sample is taken: the run, its worker processes, rows' lives, timing, pages, the gate."""
