"""Data assets: definitions, IO managers and materializations."""
