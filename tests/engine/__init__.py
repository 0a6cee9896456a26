"""Tests of headwater.engine."""
