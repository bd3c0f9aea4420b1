"""Statistics over measured rows: paired ratios, comparisons, noise, variance, what 'best' means."""
