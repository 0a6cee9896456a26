"""``wall_clock_reads``: the calls of a task's body that read the wall clock, from its source."""

from __future__ import annotations

import datetime
import functools
import inspect
import time
from collections.abc import Callable
from datetime import date
from datetime import datetime as dt
from pathlib import Path
from time import time as time_function
from typing import Any

from headwater import Context, task
from headwater.authoring.function_source import file_lines, parse_function
from headwater.authoring.wall_clock import WallClockRead, wall_clock_reads
from headwater.clock import SystemClock
from headwater.loader import import_file


def calls(fn: Callable[..., Any]) -> list[str]:
    return [read.call for read in wall_clock_reads(fn)]


def line_of(fn: Callable[..., Any], text: str) -> int:
    """The file line of the first line of ``fn``'s source that contains ``text``."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def datetime_forms() -> None:
    dt.now()
    datetime.datetime.now()
    datetime.date.today()
    dt.utcnow()
    dt.today()
    date.today()
    datetime.datetime.now(tz=datetime.UTC)


def test_datetime_and_date_are_found_however_they_are_imported() -> None:
    assert calls(datetime_forms) == [
        "dt.now()",
        "datetime.datetime.now()",
        "datetime.date.today()",
        "dt.utcnow()",
        "dt.today()",
        "date.today()",
        "datetime.datetime.now(tz=datetime.UTC)",
    ]


def test_a_read_gives_the_file_and_the_line_of_the_call() -> None:
    reads = wall_clock_reads(datetime_forms)
    assert reads[0] == WallClockRead(__file__, line_of(datetime_forms, "dt.now()"), "dt.now()")
    assert reads[2].line == line_of(datetime_forms, "datetime.date.today()")


def time_forms() -> None:
    time.time()
    time.time_ns()
    time_function()
    time.localtime()
    time.gmtime()
    time.strftime("%Y-%m-%d")
    time.localtime(0)
    time.gmtime(1_700_000_000)
    time.strftime("%Y", time.gmtime(0))
    time.monotonic()
    time.perf_counter()
    time.sleep(0)
    time.mktime(time.gmtime(0))


def test_time_reads_are_found_and_clock_free_time_calls_are_not() -> None:
    assert calls(time_forms) == [
        "time.time()",
        "time.time_ns()",
        "time_function()",
        "time.localtime()",
        "time.gmtime()",
        "time.strftime('%Y-%m-%d')",
    ]


THIRD_PARTY = """\
import datetime as stdlib_datetime


def body():
    import arrow
    import numpy as np
    import pandas
    import pandas as pd
    import pendulum
    from pandas import Timestamp as Stamp
    from pendulum import now as pendulum_now

    pendulum.now()
    pendulum.today()
    pendulum_now("Europe/Paris")
    pd.Timestamp.now()
    pd.Timestamp.today()
    pandas.Timestamp.utcnow()
    Stamp.now()
    arrow.now()
    arrow.utcnow()
    np.datetime64("now")
    np.datetime64("today", "D")
    pd.Timestamp("now")
    np.datetime64("2026-01-05")
    pd.Timestamp("2026-01-05")
    pendulum.datetime(2026, 1, 5)
    arrow.get("2026-01-05")
    stdlib_datetime.datetime.now()
"""


def test_pendulum_pandas_arrow_and_numpy_reads_are_found(tmp_path: Path) -> None:
    # Given a module whose body imports them (they need not be installed: nothing runs)
    path = tmp_path / "third_party.py"
    path.write_text(THIRD_PARTY)
    module = import_file(path)
    # Then each call that reads the clock is found, at its line
    reads = wall_clock_reads(module.body)
    assert [read.call for read in reads] == [
        "pendulum.now()",
        "pendulum.today()",
        "pendulum_now('Europe/Paris')",
        "pd.Timestamp.now()",
        "pd.Timestamp.today()",
        "pandas.Timestamp.utcnow()",
        "Stamp.now()",
        "arrow.now()",
        "arrow.utcnow()",
        "np.datetime64('now')",
        "np.datetime64('today', 'D')",
        "pd.Timestamp('now')",
        "stdlib_datetime.datetime.now()",
    ]
    assert reads[0] == WallClockRead(str(path.resolve()), 13, "pendulum.now()")
    assert reads[-1].line == 29


def now() -> int:
    """A helper of the user's that happens to be called ``now``."""
    return 0


class Schedule:
    def now(self) -> int:
        return 1


def look_alikes(time: Schedule, ctx: Context) -> None:
    now()
    time.now()  # a parameter named time, not the module
    ctx.logical_date.today()  # through a value, not the class: not resolved
    today = ctx.logical_date
    today.now()
    datetime = Schedule()
    datetime.now()


def local_now() -> None:
    def now() -> int:
        return 2

    now()
    current: Callable[[], int] = lambda: 3  # noqa: E731
    current()


def test_local_names_parameters_and_the_users_own_now_are_not_reads() -> None:
    assert calls(look_alikes) == []
    assert calls(local_now) == []


def nested() -> Callable[[], float]:
    def stamp() -> float:
        return time.time()

    later = [lambda: dt.now() for _ in range(2)]
    del later
    return stamp


def test_nested_functions_and_lambdas_of_the_body_count() -> None:
    assert calls(nested) == ["time.time()", "dt.now()"]


def make_body() -> Callable[[], Any]:
    import datetime as enclosing_datetime

    def body() -> Any:
        return enclosing_datetime.datetime.now()

    return body


def test_names_from_the_enclosing_function_are_resolved_through_the_closure() -> None:
    assert calls(make_body()) == ["enclosing_datetime.datetime.now()"]


def silenced() -> None:
    dt.now()  # headwater: allow-wall-clock
    time.time()
    time.time_ns()  # headwater:allow-wall-clock  (spacing is free)


def silenced_whole(n: int) -> None:  # headwater: allow-wall-clock
    dt.now()
    time.time()


def test_an_allow_comment_silences_its_line_or_on_the_def_line_the_function() -> None:
    assert calls(silenced) == ["time.time()"]
    assert calls(silenced_whole) == []


def with_default(day: date = date.today()) -> date:  # noqa: B008
    return day


def test_a_default_argument_read_at_import_is_found() -> None:
    assert calls(with_default) == ["date.today()"]


def decorated_by(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        print(time.time() - started)
        return result

    return timed


@decorated_by
def wrapped() -> None:
    """Its wrapper reads the clock, not its body: the body is what is looked at."""
    dt.today()


@task
def a_task(ctx: Context) -> str:
    return dt.now().isoformat()


class Extract:
    def __call__(self) -> float:
        return time.time()

    def method(self) -> str:
        sql = """
SELECT *
FROM orders
"""
        return sql + str(date.today())


def test_callables_of_every_kind_are_looked_at_through_their_body() -> None:
    assert calls(wrapped) == ["dt.today()"]
    assert calls(a_task) == ["dt.now()"]
    assert calls(a_task.fn) == ["dt.now()"]
    assert calls(functools.partial(with_default, date(2026, 1, 5))) == ["date.today()"]
    assert calls(Extract()) == ["time.time()"]
    # a string literal less indented than its method stops textwrap.dedent
    assert calls(Extract().method) == ["date.today()"]
    assert calls(Extract.method) == ["date.today()"]


class Lambdas:
    pair = (lambda: 1, lambda: time.time())
    alone = lambda: dt.now()  # noqa: E731


def test_a_lambda_is_told_apart_from_the_others_on_its_line() -> None:
    assert calls(Lambdas.pair[0]) == []
    assert calls(Lambdas.pair[1]) == ["time.time()"]
    assert calls(Lambdas.alone) == ["dt.now()"]


class Proxy:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


def test_functions_without_python_source_have_no_reads_and_never_raise() -> None:
    namespace: dict[str, Any] = {"time": time}
    exec("def made():\n    return time.time()\n", namespace)
    callables: list[Any] = [len, time.time, print, dt.now, namespace["made"], Extract, Proxy()]
    for fn in [*callables, object()]:
        assert wall_clock_reads(fn) == [], fn


def test_results_are_cached_per_code_object_and_never_shared() -> None:
    first = wall_clock_reads(time_forms)
    first.clear()
    again = wall_clock_reads(time_forms)
    assert len(again) == 6
    assert again == wall_clock_reads(time_forms)


def test_a_subclass_of_datetime_reads_the_clock_through_now(tmp_path: Path) -> None:
    path = tmp_path / "subclass.py"
    path.write_text(
        "import datetime\n"
        "class Moment(datetime.datetime):\n"
        "    pass\n"
        "def body():\n"
        "    return Moment.now()\n"
    )
    assert calls(import_file(path).body) == ["Moment.now()"]


def nested_calls() -> str:
    return str(
        max(
            dt.now(),
            dt.utcnow(),
        )
    ) + str(date.today())


def test_reads_come_in_the_order_of_the_source() -> None:
    assert calls(nested_calls) == ["dt.now()", "dt.utcnow()", "date.today()"]


def only_an_alias() -> float:
    return time_function()


def make_aliased_body() -> Callable[[], Any]:
    from time import time as stamp

    def body() -> Any:
        return stamp()

    return body


def test_a_read_through_an_alias_alone_is_found() -> None:
    # no clock-like name in the code: the alias's value says what it is
    assert calls(only_an_alias) == ["time_function()"]
    assert calls(make_aliased_body()) == ["stamp()"]


def durations() -> float:
    started = time.perf_counter()
    time.sleep(0)
    return time.perf_counter() - started + time.monotonic()


def test_a_body_that_only_measures_durations_reads_no_clock() -> None:
    assert calls(durations) == []


def ends_on_a_closing_line() -> dict[str, Any]:
    return {
        "rows": 1,
        "at": dt.now(),
    }


def test_a_read_in_the_last_lines_of_a_multi_line_statement_is_found() -> None:
    assert wall_clock_reads(ends_on_a_closing_line) == [
        WallClockRead(__file__, line_of(ends_on_a_closing_line, "dt.now()"), "dt.now()")
    ]


def test_lines_that_end_too_early_are_read_again_by_tokenizing() -> None:
    # Given only the first lines of the function (as without end positions)
    code = ends_on_a_closing_line.__code__
    lines = file_lines(ends_on_a_closing_line)[code.co_firstlineno - 1 : code.co_firstlineno + 1]
    # Then its whole source is found all the same
    source = parse_function(ends_on_a_closing_line, lines)
    assert source is not None
    assert source.first_line == code.co_firstlineno
    assert len(source.lines) == 5


def test_a_file_gone_after_import_gives_no_reads(tmp_path: Path) -> None:
    path = tmp_path / "gone.py"
    path.write_text("import time\n\n\ndef body():\n    return time.time()\n")
    module = import_file(path)
    path.unlink()
    assert wall_clock_reads(module.body) == []


def test_headwater_own_functions_have_no_reads() -> None:
    # SystemClock.now reads the clock: it is the one place meant to
    assert wall_clock_reads(SystemClock().now) == []
