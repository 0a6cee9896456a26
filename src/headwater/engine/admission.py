"""Admission: which ready instances of an EngineHost start now, and which wait.

Three limits apply, in this order, to the instances the host takes off its ready queue
(ordered by priority weight, then age):

- the host's parallelism: no more tries in flight than that (the host's own check);
- a pipeline's ``max_active_tasks``: no more of its tries in flight in this host, over
  all its runs; an instance over the limit waits here, in its place in the order, until
  one of the pipeline's tries ends;
- pools: an instance of a task with ``pool=`` starts only with slots granted by the
  store (``StateStore.acquire_slots``), so the limit holds across every process sharing
  the store. An instance refused slots is marked ``queued`` and waits here; it asks
  again as soon as a try of this host gives slots of that pool back, and every
  ``POOL_POLL`` seconds for slots freed by other processes.

Instances of tasks without a pool, in pipelines without ``max_active_tasks``, go
straight through: no query and no bookkeeping beyond two attribute checks.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Any, Generic, Protocol, TypeVar

from headwater.clock import Clock
from headwater.engine.run_state import InstanceKey
from headwater.executors.base import TryKey, TryRequest
from headwater.store.base import StateStore
from headwater.store.records import ReleaseSlots, SlotRequest

StartedTry = tuple[TryRequest, Callable[..., Any], Any]  # the request, the function, its flight


class Candidate(Protocol):
    """What Admission asks of a run's driver (``Candidate`` implements it).

    Admission only decides: starting a try, refusing it or making it wait is the
    driver's business, through the three methods below, and changes nothing else.
    """

    @property
    def run_id(self) -> str: ...

    @property
    def pipeline_id(self) -> str: ...

    @property
    def max_active_tasks(self) -> int | None:
        """The pipeline's limit of tries in flight in this host, over its runs."""
        ...

    @property
    def in_flight(self) -> int:
        """Tries of this run in flight now."""
        ...

    def pool_of(self, key: InstanceKey) -> tuple[str, str, int] | None:
        """``(task id, pool, slots)`` when the instance's task uses a pool, else None."""
        ...

    def start(self, key: InstanceKey) -> StartedTry | None:
        """Start the instance's next try (None: it failed before starting)."""
        ...

    def refuse(self, key: InstanceKey, error: str) -> None:
        """The instance can never start (its pool is missing or too small): it fails."""
        ...

    def wait_for_slots(self, key: InstanceKey) -> None:
        """The instance waits for pool slots: it shows ``queued``."""
        ...


D = TypeVar("D", bound=Candidate)  # the drivers of a host
# (-priority weight, age, driver, key): the host's ready queue, a heap
ReadyEntry = tuple[int, int, D, InstanceKey]

POOL_POLL = 0.5  # seconds between asking again for slots that other processes may free


def unknown_pool_message(request: SlotRequest, pipeline_id: str) -> str:
    return (
        f"pool {request.pool!r} does not exist (task {request.task_id!r} of pipeline "
        f"{pipeline_id!r} asks for {request.slots} slot(s) of it); create it with "
        f"'headwater pools set {request.pool} SLOTS' or in the [pools] section of "
        f"headwater.toml, then 'headwater retry {request.run_id}'"
    )


def pool_too_small_message(request: SlotRequest, size: int) -> str:
    return (
        f"task {request.task_id!r} asks for {request.slots} slots of pool "
        f"{request.pool!r}, which has {size}: it could never start; give the pool more "
        f"slots with 'headwater pools set {request.pool} {request.slots}' or lower the "
        f"task's pool_slots, then 'headwater retry {request.run_id}'"
    )


class Admission(Generic[D]):
    """The waiting rooms of one host: per pipeline over its limit, per full pool."""

    def __init__(self, store: StateStore, clock: Clock, owner: str, lease: timedelta) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self.lease = lease
        self.over_limit: dict[str, list[ReadyEntry[D]]] = {}  # pipeline id -> heap
        self.pool_waiting: dict[str, list[ReadyEntry[D]]] = {}  # pool -> heap
        self.next_poll = 0.0  # monotonic time to ask again for every waiting pool
        self.freed: set[str] = set()  # pools this host gave slots back to since then
        self.holding: dict[TryKey, tuple[str, ReleaseSlots]] = {}  # tries holding slots
        self.releases: list[ReleaseSlots] = []  # to commit with the tries' ends

    # selecting what starts

    def take(
        self,
        ready: list[ReadyEntry[D]],
        capacity: int,
        drivers: Collection[D],
        commit: Callable[[], None],
    ) -> list[tuple[D, StartedTry]]:
        """Start up to ``capacity`` instances from ``ready``, best first.

        Their store changes go to their drivers' ``pending``. ``commit`` is called before
        slots are asked for, so that slots given back by tries that just ended, and
        those tries' ends, are recorded first.
        """
        starts: list[tuple[D, StartedTry]] = []
        if capacity <= 0:
            return starts
        if self.over_limit or self.pool_waiting:
            self._readmit(ready, capacity, drivers)
        room: dict[str, int] = {}  # pipelines with max_active_tasks: tries left to start
        full: dict[str, int] = {}  # pool -> fewest slots it refused in this step
        while ready and len(starts) < capacity:
            requests: list[tuple[ReadyEntry[D], SlotRequest]] = []
            while ready and len(starts) + len(requests) < capacity:
                entry = heapq.heappop(ready)
                driver, key = entry[2], entry[3]
                if driver.max_active_tasks is not None and not self._has_room(
                    driver, room, drivers
                ):
                    pipeline_id = driver.pipeline_id
                    heapq.heappush(self.over_limit.setdefault(pipeline_id, []), entry)
                    continue
                uses = driver.pool_of(key)
                if uses is None:
                    started = driver.start(key)
                    if started is not None:
                        starts.append((driver, started))
                    continue
                task_id, pool, slots = uses
                if pool in full and slots >= full[pool]:
                    # as many slots or more were just refused: no need to ask
                    self._give_room_back(driver, room)
                    self._wait_for_pool(entry, pool)
                else:
                    request = SlotRequest(
                        pool=pool,
                        slots=slots,
                        run_id=driver.run_id,
                        task_id=task_id,
                        map_index=key[1],
                    )
                    requests.append((entry, request))
            if requests:
                commit()
                self._acquire(requests, starts, full, room)
        return starts

    @staticmethod
    def _has_room(driver: D, room: dict[str, int], drivers: Collection[D]) -> bool:
        """Take one of the pipeline's places for this step, if one is left."""
        pipeline_id = driver.pipeline_id
        left = room.get(pipeline_id)
        if left is None:
            left = (driver.max_active_tasks or 0) - _in_flight(pipeline_id, drivers)
        if left <= 0:
            room[pipeline_id] = 0
            return False
        room[pipeline_id] = left - 1
        return True

    @staticmethod
    def _give_room_back(driver: D, room: dict[str, int]) -> None:
        if driver.max_active_tasks is not None:
            room[driver.pipeline_id] += 1

    def _acquire(
        self,
        requests: list[tuple[ReadyEntry[D], SlotRequest]],
        starts: list[tuple[D, StartedTry]],
        full: dict[str, int],
        room: dict[str, int],
    ) -> None:
        now = self.clock.now()
        grants = self.store.acquire_slots(
            [request for _, request in requests], self.owner, now, now + self.lease
        )
        for entry, request in requests:
            driver, key = entry[2], entry[3]
            if request.key in grants.granted:
                release = ReleaseSlots(
                    run_id=request.run_id,
                    task_id=request.task_id,
                    map_index=request.map_index,
                    owner=self.owner,
                )
                started = driver.start(key)
                if started is None:  # it failed before starting: its slots go back
                    self.releases.append(release)
                    self.freed.add(request.pool)
                else:
                    self.holding[started[0].key] = (request.pool, release)
                    starts.append((driver, started))
                continue
            self._give_room_back(driver, room)
            size = grants.sizes.get(request.pool)
            if size is None:
                driver.refuse(key, unknown_pool_message(request, driver.pipeline_id))
            elif 0 < size < request.slots:
                driver.refuse(key, pool_too_small_message(request, size))
            else:  # the pool is full (or has 0 slots: paused)
                full[request.pool] = min(full.get(request.pool, request.slots), request.slots)
                self._wait_for_pool(entry, request.pool)

    def _wait_for_pool(self, entry: ReadyEntry[D], pool: str) -> None:
        if not self.pool_waiting:
            self.next_poll = self.clock.monotonic() + POOL_POLL
        entry[2].wait_for_slots(entry[3])
        heapq.heappush(self.pool_waiting.setdefault(pool, []), entry)

    def _readmit(self, ready: list[ReadyEntry[D]], capacity: int, drivers: Collection[D]) -> None:
        """Put back in ``ready`` the best waiting instances that might start now.

        At most ``capacity`` per waiting room, since no more can start in this step:
        the work per step stays bounded however many instances wait.
        """
        for pipeline_id in list(self.over_limit):
            heap = self.over_limit[pipeline_id]
            limit = heap[0][2].max_active_tasks or 0
            count = min(capacity, limit - _in_flight(pipeline_id, drivers))
            _move(heap, ready, count)
            if not heap:
                del self.over_limit[pipeline_id]
        due = self.clock.monotonic() >= self.next_poll
        for pool in list(self.pool_waiting):
            if due or pool in self.freed:
                heap = self.pool_waiting[pool]
                _move(heap, ready, capacity)
                if not heap:
                    del self.pool_waiting[pool]
        if due:
            self.next_poll = self.clock.monotonic() + POOL_POLL
        self.freed.clear()

    # tries ending

    def holds(self, key: TryKey) -> bool:
        """Whether the try ``key`` holds pool slots."""
        return key in self.holding

    def ended(self, key: TryKey) -> None:
        """A try ended, timed out or was given up: the slots it held go back."""
        held = self.holding.pop(key, None)
        if held is not None:
            self.releases.append(held[1])
            self.freed.add(held[0])

    def forget(self, driver: D) -> None:
        """Drop a run's waiting instances (another process drives the run now)."""
        for rooms in (self.over_limit, self.pool_waiting):
            for name in list(rooms):
                rooms[name] = [entry for entry in rooms[name] if entry[2] is not driver]
                heapq.heapify(rooms[name])
                if not rooms[name]:
                    del rooms[name]

    def take_releases(self) -> list[ReleaseSlots]:
        releases, self.releases = self.releases, []
        return releases

    def poll_at(self) -> float | None:
        """When to ask again for slots (monotonic), if instances wait for pools."""
        return self.next_poll if self.pool_waiting else None


def _in_flight(pipeline_id: str, drivers: Collection[D]) -> int:
    return sum(driver.in_flight for driver in drivers if driver.pipeline_id == pipeline_id)


def _move(source: list[ReadyEntry[D]], target: list[ReadyEntry[D]], count: int) -> None:
    for _ in range(min(count, len(source))):
        heapq.heappush(target, heapq.heappop(source))
