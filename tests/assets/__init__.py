"""Tests of headwater.assets."""
