"""The engine: task and run states, trigger rules and the loop that drives a run."""
