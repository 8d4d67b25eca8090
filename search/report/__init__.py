"""What a run writes: the run directory, report.json/report.md, plots, and the cost of a network."""
