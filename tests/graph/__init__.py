"""Tests of headwater.graph."""
