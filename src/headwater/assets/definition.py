"""``@asset`` and ``@asset_check``: declare the data a function produces, and its tests.

An asset is a function whose return value is a dataset: an IO manager stores it, the
store records each materialization. A parameter named like another asset makes that
asset a dependency and receives its stored value; ``deps=[...]`` adds dependencies that
pass no data. Whether those names exist is checked once every asset is known (see
``graph.py``); what can be checked from the function alone is checked here.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from headwater.assets.automation import Automation, check_automation
from headwater.assets.checks import Check
from headwater.assets.io.base import IOManager
from headwater.assets.keys import AssetKey, key_string, to_key
from headwater.assets.mappings import PartitionMapping
from headwater.assets.partitions import PartitionsDefinition
from headwater.authoring.context import Context
from headwater.authoring.retry import TASK_OPTION_NAMES, check_identifier, resolve_options
from headwater.errors import DefinitionError

# the task options an asset takes; its trigger rule is always "all upstream succeeded"
ASSET_TASK_OPTIONS = TASK_OPTION_NAMES - {
    "trigger_rule",
    "allow_failure",
    "tags",
    "outlets",
    "checks",
}
ASSET_OPTION_NAMES = frozenset(
    {
        "key",
        "key_prefix",
        "deps",
        "ins",
        "partition_mappings",
        "partitions",
        "group",
        "tags",
        "description",
        "io_manager",
        "checks",
        "freshness",
        "automation",
        "metadata",
        "alerts",
    }
    | ASSET_TASK_OPTIONS
)
# unannotated parameters with these names receive the Context, as in most examples
CONTEXT_NAMES = frozenset({"ctx", "context"})
DEFAULT_GROUP = "default"


def where_defined(fn: Callable[..., Any]) -> tuple[str | None, int | None]:
    code = getattr(fn, "__code__", None)
    if code is None:
        return None, None
    return code.co_filename, code.co_firstlineno


def context_parameters(
    fn: Callable[..., Any], signature: inspect.Signature | None = None
) -> tuple[str, ...]:
    """Parameters that receive the Context: annotated ``Context``, or named ctx/context."""
    names = []
    signature = signature or inspect.signature(fn)
    for name, parameter in signature.parameters.items():
        annotation = parameter.annotation
        if (
            annotation is Context
            or (isinstance(annotation, str) and annotation.split(".")[-1] == "Context")
            or (annotation is inspect.Parameter.empty and name in CONTEXT_NAMES)
        ):
            names.append(name)
    return tuple(names)


def _tags(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise DefinitionError(f"{where}: tags must be a list of strings, got {value!r}")
    tags = []
    for tag in value:
        if not isinstance(tag, str) or not tag or len(tag) > 100 or "," in tag:
            raise DefinitionError(
                f"{where}: tag {tag!r} must be a non-empty string of at most 100 characters "
                "without ','"
            )
        tags.append(tag)
    return tuple(sorted(set(tags)))


class Asset:
    """A declared asset: its key, the function that computes it and how it is kept."""

    # its tries are told which asset tasks of their run have not started
    # (AssetTryInfo.waiting): dbt's assets build those they can in one dbt build
    sees_run = False

    def __init__(self, fn: Callable[..., Any], **options: Any) -> None:
        unknown = sorted(set(options) - ASSET_OPTION_NAMES)
        self.fn = fn
        self.source_file, self.line = where_defined(fn)
        name = getattr(fn, "__name__", repr(fn))
        self.where = f"asset {name!r} ({self.source_file}:{self.line})"
        if unknown:
            raise DefinitionError(
                f"{self.where}: unknown option(s) {', '.join(map(repr, unknown))}; known "
                f"options are {', '.join(sorted(ASSET_OPTION_NAMES))}"
            )
        parts = to_key(options.get("key") or name, self.where)
        prefix = options.get("key_prefix")
        if prefix:
            parts = to_key(list(to_key(prefix, self.where) + parts), self.where)
        self.key: AssetKey = parts
        if len(parts) > 1 or parts[0] != name:
            self.where = f"asset {self.name!r} ({self.source_file}:{self.line})"
        self.module_name = getattr(fn, "__module__", None) or "__main__"
        module = sys.modules.get(self.module_name)
        self.module_file: str | None = getattr(module, "__file__", None) or self.source_file
        self.signature = inspect.signature(fn)
        self.context_parameters = context_parameters(fn, self.signature)
        self.ins: dict[str, AssetKey] = self._ins(options["ins"]) if options.get("ins") else {}
        self.deps: tuple[AssetKey, ...] = tuple(
            to_key(dep, self.where) for dep in options.get("deps") or ()
        )
        self.partitions = self._partitions(options.get("partitions"))
        mappings = options.get("partition_mappings")
        self.partition_mappings = self._mappings(mappings) if mappings else {}
        group = options.get("group")
        self.group = (
            DEFAULT_GROUP if group is None else check_identifier("asset group", group, self.where)
        )
        self.tags = _tags(options["tags"], self.where) if options.get("tags") else ()
        doc = getattr(fn, "__doc__", None)
        self.description = options.get("description") or (inspect.cleandoc(doc) if doc else "")
        self.io_manager = self._io_manager(options.get("io_manager"))
        self.checks: tuple[Check, ...] = (
            self._checks(options["checks"]) if options.get("checks") else ()
        )
        self.freshness = self._freshness(options.get("freshness"))
        self.automation: Automation | None = check_automation(options.get("automation"), self.where)
        self.metadata = dict(options.get("metadata") or {})
        alerts = options.get("alerts") or ()
        if isinstance(alerts, str) or not isinstance(alerts, (list, tuple)):
            raise DefinitionError(f"{self.where}: alerts must be a list of channel names")
        self.alerts = tuple(check_identifier("alert channel", a, self.where) for a in alerts)
        self.task_options = (
            {k: v for k, v in options.items() if k in ASSET_TASK_OPTIONS} if options else {}
        )
        if self.task_options:
            resolve_options(self.task_options, {}, self.where)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = name
        self.__wrapped__ = fn

    @property
    def name(self) -> str:
        return key_string(self.key)

    def __repr__(self) -> str:
        return f"<Asset {self.name!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly (a unit test of the asset's logic)."""
        return self.fn(*args, **kwargs)

    @property
    def data_parameters(self) -> tuple[str, ...]:
        """The parameters that receive an upstream asset's value."""
        return tuple(
            name
            for name, parameter in self.signature.parameters.items()
            if name not in self.context_parameters
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        )

    def parameter_annotation(self, name: str) -> type | None:
        annotation = self.signature.parameters[name].annotation
        return annotation if isinstance(annotation, type) else None

    def _ins(self, ins: object) -> dict[str, AssetKey]:
        if not isinstance(ins, Mapping):
            raise DefinitionError(f"{self.where}: ins maps parameter names to asset keys")
        parameters = self.signature.parameters
        resolved = {}
        for name, key in ins.items():
            if name not in parameters:
                raise DefinitionError(
                    f"{self.where}: ins names {name!r}, which is not a parameter of the "
                    f"function ({', '.join(parameters) or 'none'})"
                )
            resolved[name] = to_key(key, self.where)
        return resolved

    def _partitions(self, value: object) -> PartitionsDefinition | None:
        if value is not None and not isinstance(value, PartitionsDefinition):
            raise DefinitionError(
                f"{self.where}: partitions must be a partitions definition such as "
                f"DailyPartitions(start='2026-01-01'), got {value!r}"
            )
        return value

    def _mappings(self, value: object) -> dict[str, PartitionMapping]:
        if not isinstance(value, Mapping) or not all(
            isinstance(m, PartitionMapping) for m in value.values()
        ):
            raise DefinitionError(
                f"{self.where}: partition_mappings maps a parameter name or an upstream "
                "key to a mapping such as last(7) or all_partitions()"
            )
        return {str(name): mapping for name, mapping in value.items()}

    def _io_manager(self, value: object) -> IOManager | None:
        if value is not None and not isinstance(value, IOManager):
            raise DefinitionError(
                f"{self.where}: io_manager must be an IO manager such as "
                f"FileIOManager('s3://bucket/assets') or SqlTableIOManager(url), got {value!r}"
            )
        return value

    def _checks(self, value: object) -> tuple[Check, ...]:
        if isinstance(value, Check):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(c, Check) for c in value):
            raise DefinitionError(
                f"{self.where}: checks must be a list of checks such as [not_empty()], "
                f"got {value!r}"
            )
        names = [check.name for check in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DefinitionError(
                f"{self.where}: two checks are named {duplicates[0]!r}; give one name=..."
            )
        return tuple(value)

    def _freshness(self, value: object) -> timedelta | None:
        if value is None:
            return None
        if not isinstance(value, timedelta) or value <= timedelta(0):
            raise DefinitionError(
                f"{self.where}: freshness must be a positive timedelta such as "
                f"timedelta(hours=26), got {value!r}"
            )
        return value


def asset(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Declare an asset computed by the decorated function.

    Options: ``key``, ``key_prefix``, ``deps``, ``ins``, ``partitions``,
    ``partition_mappings``, ``group``, ``tags``, ``description``, ``io_manager``,
    ``checks``, ``freshness``, ``automation``, ``metadata``, ``alerts`` and the task
    options (``retries``, ``retry_delay``, ``timeout``, ``pool``...). See docs/assets.md.
    """

    def decorate(function: Callable[..., Any]) -> Asset:
        if not callable(function):
            raise DefinitionError(f"@asset decorates a function, got {function!r}")
        return Asset(function, **options)

    return decorate(fn) if fn is not None else decorate


class AssetCheck:
    """A user's check of an asset: a function given the asset's value, returning a verdict."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        asset: object,
        blocking: bool = False,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self.fn = fn
        self.source_file, self.line = where_defined(fn)
        self.name: str = name or str(getattr(fn, "__name__", "check"))
        self.where = f"asset check {self.name!r} ({self.source_file}:{self.line})"
        self.asset_key = to_key(asset, self.where)
        check_identifier("check name", self.name, self.where)
        if not isinstance(blocking, bool):
            raise DefinitionError(f"{self.where}: blocking must be True or False")
        self.blocking = blocking
        self.description = description or inspect.getdoc(fn) or ""
        self.module_name = getattr(fn, "__module__", None) or "__main__"
        self.context_parameters = context_parameters(fn)
        values = [p for p in inspect.signature(fn).parameters if p not in self.context_parameters]
        if len(values) > 1:
            raise DefinitionError(
                f"{self.where}: a check takes the asset's value as its one parameter (and "
                f"optionally a Context), got {', '.join(values)}"
            )
        self.value_parameter = values[0] if values else None

    def __repr__(self) -> str:
        return f"<AssetCheck {self.name!r} of {key_string(self.asset_key)!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def asset_check(
    *,
    asset: object,
    blocking: bool = False,
    name: str | None = None,
    description: str | None = None,
) -> Callable[[Callable[..., Any]], AssetCheck]:
    """Declare a check of ``asset``: the function gets its value and returns a verdict.

    It returns True/False, None (passed), ``(passed, description)``, a dict with
    ``passed``, ``description`` and ``metadata``, or a ``CheckResult``. A blocking check
    that fails stops what reads the asset and fails the run.
    """

    def decorate(fn: Callable[..., Any]) -> AssetCheck:
        return AssetCheck(fn, asset=asset, blocking=blocking, name=name, description=description)

    return decorate


def find_definitions(values: Sequence[Any]) -> tuple[list[Asset], list[AssetCheck]]:
    """The assets and checks among ``values`` (a module's globals), also inside lists."""
    assets: list[Asset] = []
    checks: list[AssetCheck] = []
    for value in values:
        items = value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            if isinstance(item, Asset):
                assets.append(item)
            elif isinstance(item, AssetCheck):
                checks.append(item)
    return assets, checks
