"""Metrics in the Prometheus text format (see docs/metrics.md).

Two kinds: gauges read from the metadata store at scrape time (``collector.py``), and
per-process counters and histograms recorded by the engine and the scheduler loop
(``instruments.py``, which imports nothing of Prometheus so the engine stays light).
``exposition.py`` gathers them into a registry and serves it.
"""
