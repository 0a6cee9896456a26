"""AssetBackfillRunner: drive one backfill of asset partitions in this process until it ends.

What ``headwater backfill --asset`` does in the foreground; the loop, its leases and its
interruption are those of a backfill of intervals (``BackfillLoop``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from headwater.assets.jobs import AssetPipeline
from headwater.engine.ownership import DEFAULT_LEASE
from headwater.runtime import Runtime
from headwater.scheduling.asset_backfill_advance import (
    AssetBackfillProgress,
    advance_asset_backfill,
    asset_backfill_progress,
)
from headwater.scheduling.backfill_runner import BackfillLoop
from headwater.store.records import BackfillRecord


class AssetBackfillRunner(BackfillLoop[AssetBackfillProgress]):
    """Advances a recorded backfill of assets and drives its runs here."""

    def __init__(
        self,
        runtime: Runtime,
        pipeline: AssetPipeline,
        backfill: BackfillRecord,
        *,
        executor: str = "thread",
        lease: timedelta = DEFAULT_LEASE,
        poll: float = 0.5,
        on_progress: Callable[[AssetBackfillProgress], None] | None = None,
    ) -> None:
        super().__init__(
            runtime,
            pipeline,
            backfill,
            executor=executor,
            lease=lease,
            poll=poll,
            on_progress=on_progress,
        )
        self.asset_pipeline = pipeline

    def _progress(self, backfill: BackfillRecord) -> AssetBackfillProgress:
        return asset_backfill_progress(
            self.store, self.asset_pipeline, backfill, now=self.clock.now()
        )

    def _advance(self, held: BackfillRecord) -> AssetBackfillProgress:
        return advance_asset_backfill(
            self.store,
            self.asset_pipeline,
            held,
            clock=self.clock,
            run_owner=self.owner,
            lease=self.lease,
        )
