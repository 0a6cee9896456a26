"""Executors run task tries: in threads, in worker processes, or (later) on other machines."""
