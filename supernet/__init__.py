"""The searchable space: masked ops, choice sites, model families, data-slimming gates, derive."""
