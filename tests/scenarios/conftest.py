"""Scenario tests run the real ``headwater`` command, like the CLI tests."""

from tests.cli.conftest import headwater

__all__ = ["headwater"]
