"""Tests of headwater.executors."""
