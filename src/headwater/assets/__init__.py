"""Data assets: definitions, partitions, checks and materializations."""
