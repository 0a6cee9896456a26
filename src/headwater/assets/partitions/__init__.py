"""Partitions definitions: which partition keys an asset has, and the time each one covers.

Pure, like the schedules: times in, keys and aware UTC windows out; constructors only
check their arguments (nothing is listed until asked). Four kinds:

- ``TimePartitions`` (``HourlyPartitions``, ``DailyPartitions``, ``WeeklyPartitions``,
  ``MonthlyPartitions``): periods of a zone's wall clock, across daylight-saving
  changes. Keys: hourly ``2026-01-01-13:00`` (with its UTC offset,
  ``2026-11-01-01:00-04:00``, only on the two hours that read alike when clocks fall
  back), daily ``2026-01-01``, weekly its Monday ``2026-01-05``, monthly its first day
  ``2026-01-01``. The rules are in the modules ``days`` and ``hours``.
- ``StaticPartitions``: a fixed list of keys.
- ``DynamicPartitions``: keys added while pipelines run; the store supplies the current
  ones, by definition name (``DynamicKeys``).
- ``MultiPartitions``: two or more of the above, keys joined with ``|`` in dimension
  order (``2026-01-01|eu``).
"""

from headwater.assets.partitions.base import (
    MAX_KEY_LENGTH,
    DynamicKeys,
    PartitionError,
    PartitionsDefinition,
    check_partition_name,
    window_end,
)
from headwater.assets.partitions.multi import MultiPartitions
from headwater.assets.partitions.named import DynamicPartitions, StaticPartitions
from headwater.assets.partitions.time_partitions import (
    DailyPartitions,
    HourlyPartitions,
    MonthlyPartitions,
    TimePartitions,
    WeeklyPartitions,
)

__all__ = [
    # the contract
    "PartitionsDefinition",
    "PartitionError",
    "window_end",
    "DynamicKeys",
    # the kinds
    "TimePartitions",
    "HourlyPartitions",
    "DailyPartitions",
    "WeeklyPartitions",
    "MonthlyPartitions",
    "StaticPartitions",
    "DynamicPartitions",
    "MultiPartitions",
    # key names
    "check_partition_name",
    "MAX_KEY_LENGTH",
]
