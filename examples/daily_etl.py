"""A daily ETL pipeline: extract → quality check → transform → load → report, plus notify.

Run it with ``headwater run examples/daily_etl.py --date 2026-01-05``.

- ``extract`` writes the day's raw orders to a file and returns its path (a reference,
  not the payload). Its first try fails on purpose, as a flaky source would: it is
  retried after a short delay.
- ``check_quality`` is a branch: clean data goes on to ``transform``; bad data goes to
  ``quarantine`` and the rest of the chain is skipped.
- ``load`` writes into a local SQLite "warehouse" with delete-then-insert keyed on the
  run's logical date, so running the same date twice leaves one copy of that day.
- ``notify`` runs whatever happened (``trigger_rule="all_done"``) and says which step
  failed, if any. The run itself fails when a leaf (``report``) fails or is
  upstream-failed, as in Airflow.

Params: ``data_dir`` and ``warehouse`` say where files go; ``fail_step`` names a step to
fail (to see ``notify`` at work); ``bad_rows`` makes the quality check fail.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import timedelta
from pathlib import Path

from headwater import Context, pipeline, task

STEPS = ("extract", "check_quality", "transform", "load", "report")


def _maybe_fail(ctx: Context) -> None:
    if ctx.params.get("fail_step") == ctx.task_id:
        raise RuntimeError(f"{ctx.task_id} failed on purpose (param fail_step)")


@task(retries=2, retry_delay=timedelta(seconds=0.2), retry_backoff=2.0)
def extract(ctx: Context) -> str:
    """Fetch the day's orders from the source and write them to the raw folder."""
    if ctx.try_number == 1:
        raise ConnectionError("source timed out (a transient error: this try is retried)")
    _maybe_fail(ctx)
    rng = random.Random(ctx.ds)  # the same day always yields the same data
    bad = int(ctx.params.get("bad_rows", 0))
    rows = [
        {"order_id": f"{ctx.ds_nodash}-{i}", "amount": round(rng.uniform(5, 500), 2)}
        for i in range(100)
    ]
    for row in rows[:bad]:
        row["amount"] = -1.0
    path = Path(ctx.params["data_dir"]) / f"orders_{ctx.ds}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))
    ctx.log.info("wrote %d rows to %s", len(rows), path)
    return str(path)


@task.branch
def check_quality(path: str, ctx: Context) -> str:
    """Go on to transform when every amount is positive, else quarantine the file."""
    _maybe_fail(ctx)
    rows = json.loads(Path(path).read_text())
    bad = [row for row in rows if row["amount"] <= 0]
    ctx.log.info("%d of %d rows fail the quality check", len(bad), len(rows))
    return "quarantine" if bad else "transform"


@task
def quarantine(path: str, ctx: Context) -> str:
    """Move a file that failed the quality check aside."""
    target = Path(path).with_suffix(".quarantined.json")
    Path(path).replace(target)
    ctx.log.warning("quarantined %s", target)
    return str(target)


@task
def transform(path: str, ctx: Context) -> list[dict[str, object]]:
    """Add the order's date and a size bucket."""
    _maybe_fail(ctx)
    rows = json.loads(Path(path).read_text())
    return [
        {**row, "day": ctx.ds, "size": "large" if float(row["amount"]) >= 250 else "small"}
        for row in rows
    ]


@task
def load(rows: list[dict[str, object]], ctx: Context) -> int:
    """Replace the day's partition in the warehouse: delete, then insert, in one transaction."""
    _maybe_fail(ctx)
    warehouse = Path(ctx.params["warehouse"])
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(warehouse) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS orders (order_id TEXT, day TEXT, amount REAL, size TEXT)"
        )
        db.execute("DELETE FROM orders WHERE day = ?", (ctx.ds,))
        db.executemany("INSERT INTO orders VALUES (:order_id, :day, :amount, :size)", rows)
    db.close()
    ctx.log.info("loaded %d rows for %s", len(rows), ctx.ds)
    return len(rows)


@task
def report(loaded: int, ctx: Context) -> dict[str, object]:
    """Summarize the day from the warehouse."""
    _maybe_fail(ctx)
    with sqlite3.connect(ctx.params["warehouse"]) as db:
        count, total = db.execute(
            "SELECT COUNT(*), ROUND(SUM(amount), 2) FROM orders WHERE day = ?", (ctx.ds,)
        ).fetchone()
    db.close()
    return {"day": ctx.ds, "orders": count, "revenue": total, "loaded": loaded}


@task(trigger_rule="all_done")
def notify(ctx: Context) -> str:
    """Say how the run went, naming the step that failed."""
    failed = [t for t, state in ctx.upstream_states.items() if state == "failed"]
    if failed:
        message = f"daily_etl {ctx.ds}: FAILED at {', '.join(failed)}"
    elif "upstream_failed" in ctx.upstream_states.values():
        message = f"daily_etl {ctx.ds}: FAILED upstream of {', '.join(ctx.upstream_states)}"
    else:
        message = f"daily_etl {ctx.ds}: ok ({dict(ctx.upstream_states)})"
    ctx.log.info(message)
    return message


@pipeline(
    schedule="0 2 * * *",
    start="2026-01-01",
    timezone="UTC",
    catchup=False,
    default_task_args={"retries": 1, "retry_delay": timedelta(seconds=0.2)},
    params={
        "data_dir": ".headwater/example/raw",
        "warehouse": ".headwater/example/warehouse.db",
        "fail_step": "",
        "bad_rows": 0,
    },
    tags=["example"],
)
def daily_etl() -> None:
    """Daily orders: extract, check, transform, load into the warehouse, report."""
    raw = extract()
    branch = check_quality(raw)
    clean = transform(raw)
    loaded = load(clean)
    report(loaded)
    branch >> [clean, quarantine(raw)]
    # notify is not downstream of the branch (a branch skips every direct downstream
    # task it does not choose) nor of report (so that report stays a leaf and a failed
    # load makes the run fail while notify still runs).
    [raw, clean, loaded] >> notify()
