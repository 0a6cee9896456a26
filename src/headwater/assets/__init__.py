"""Data assets: what a pipeline produces, how it is partitioned, and what depends on it."""
