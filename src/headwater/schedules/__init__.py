"""Schedules: when runs happen, as pure definitions.

Cron and fixed-interval timetables, data intervals, event schedules, and reading local
times across daylight-saving changes. Nothing here reads the clock, the store or the
engine: authoring, the engine and the scheduler all build on it.
"""
