"""Serving metrics: the per-process values as metric families, registries, the text format.

``metrics_registry`` gathers what one process exposes: the store's gauges
(``StoreCollector``), this process's engine and scheduler values (``EngineCollector``),
and the Python process's own (memory, CPU, open files, garbage collection).
``serve_metrics`` serves it on its own port (the scheduler's ``--metrics-port``); the
web server has a ``/metrics`` route of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from headwater.clock import Clock
from headwater.errors import ConfigError
from headwater.metrics.collector import StoreCollector
from headwater.metrics.instruments import INSTRUMENTS, EngineMetrics, Instrument
from headwater.store.sql.store import SqlStore

__all__ = [
    "CONTENT_TYPE_LATEST",
    "EngineCollector",
    "MetricsServer",
    "metrics_registry",
    "render",
    "serve_metrics",
]


class EngineCollector(Collector):
    """One process's ``EngineMetrics`` as metric families, read at each scrape."""

    def __init__(self, metrics: EngineMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        families = [self._family(instrument) for instrument in INSTRUMENTS]
        return [*families, *self._hosts()]

    def _family(self, instrument: Instrument) -> Metric:
        labels = list(instrument.labels)
        if instrument.kind == "histogram":
            histogram = HistogramMetricFamily(instrument.name, instrument.help, labels=labels)
            bounds = [repr(float(b)) for b in instrument.buckets] + ["+Inf"]
            for values, value in sorted(self.metrics.histogram(instrument).items()):
                cumulative, running = [], 0
                for bound, count in zip(bounds, value.counts, strict=True):
                    running += count
                    cumulative.append((bound, float(running)))
                histogram.add_metric(list(values), cumulative, value.sum)
            return histogram
        family: CounterMetricFamily | GaugeMetricFamily
        if instrument.kind == "counter":
            family = CounterMetricFamily(instrument.name, instrument.help, labels=labels)
        else:
            family = GaugeMetricFamily(instrument.name, instrument.help, labels=labels)
        for values, number in sorted(self.metrics.values(instrument).items()):
            family.add_metric(list(values), number)
        return family

    def _hosts(self) -> list[Metric]:
        hosts = self.metrics.hosts()
        running = GaugeMetricFamily(
            "headwater_tries_running", "Tries whose code runs in this process now."
        )
        ready = GaugeMetricFamily(
            "headwater_tries_ready",
            "Tries ready to start in this process, waiting for a free executor slot "
            "(its parallelism).",
        )
        waiting = GaugeMetricFamily(
            "headwater_tries_waiting_for_slots",
            "Tries ready to start in this process, waiting for slots of their pool.",
            labels=["pool"],
        )
        pools: dict[str, int] = {}
        for host in hosts:
            for pool, count in host.waiting_for_slots.items():
                pools[pool] = pools.get(pool, 0) + count
        if hosts:
            running.add_metric([], sum(host.running for host in hosts))
            ready.add_metric([], sum(host.ready for host in hosts))
        for pool, count in sorted(pools.items()):
            waiting.add_metric([pool], count)
        return [running, ready, waiting]


def metrics_registry(
    *,
    store: SqlStore | None = None,
    clock: Clock | None = None,
    engine: EngineMetrics | None = None,
    process: bool = True,
) -> CollectorRegistry:
    """What a process exposes: the store's gauges (with ``store`` and ``clock``), its
    engine's values (``engine``), and, with ``process``, the Python process's own."""
    registry = CollectorRegistry()
    if store is not None:
        if clock is None:
            raise TypeError("metrics_registry: a store's gauges need a clock")
        registry.register(StoreCollector(store, clock))
    if engine is not None:
        registry.register(EngineCollector(engine))
    if process:
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (``CONTENT_TYPE_LATEST``)."""
    return generate_latest(registry)


@dataclass(slots=True)
class MetricsServer:
    """A metrics endpoint serving on its own thread; ``stop`` closes it."""

    server: WSGIServer
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` at ``http://HOST:PORT/metrics`` (port 0: any free port).

    Raises:
        ConfigError: the address cannot be listened on (in use, not this host's).
    """
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; choose another "
            "--metrics-port (or --metrics-host)"
        ) from None
    return MetricsServer(server=server, thread=thread, host=host, port=server.server_port)
