"""The ``headwater`` command line: one module per noun."""
