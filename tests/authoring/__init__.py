"""Tests of headwater.authoring."""
