"""The pipeline graph: validation and the immutable ExecutionPlan."""
