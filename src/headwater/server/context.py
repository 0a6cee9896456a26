"""ServerContext: what every request handler reads, built once per server process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from headwater.authoring.pipeline import Pipeline
from headwater.clock import Clock, SystemClock
from headwater.config import Settings
from headwater.scheduling.registry import PipelineRegistry
from headwater.store.sql.store import SqlStore


@dataclass(slots=True, kw_only=True)
class ServerContext:
    """The store, the settings, the clock and the pipelines folder of one server.

    Attributes:
        settings: where the metadata store, logs and results live.
        store: the metadata store every request reads and writes.
        registry: the pipelines folder, re-read in the background; the server needs the
            definitions to trigger runs, validate params and preview schedules. None when
            the server was started without one: pipelines are then shown as recorded.
        base_url: the address people open (``HEADWATER_BASE_URL``), for links in alerts.
        clock: the only source of "now".
    """

    settings: Settings
    store: SqlStore
    registry: PipelineRegistry | None = None
    base_url: str = "http://127.0.0.1:8787"
    clock: Clock = field(default_factory=SystemClock)

    @property
    def pipelines_dir(self) -> Path | None:
        return None if self.registry is None else self.registry.folder

    def pipeline(self, pipeline_id: str) -> Pipeline | None:
        """The loaded definition of ``pipeline_id`` (a ``materialize.*`` pipeline made
        again from the loaded assets), or None if it is not loaded."""
        if self.registry is None:
            return None
        return self.registry.pipelines.get(pipeline_id) or self.registry.resolve(
            pipeline_id, self.store
        )
