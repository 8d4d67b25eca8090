"""Datasets and complexity features."""
