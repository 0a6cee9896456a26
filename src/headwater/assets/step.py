"""The try of an asset: load its inputs, call it, check the value, then write it.

Checks run on the value before the IO manager writes it (write, audit, publish in one):
when a blocking check fails, nothing is written, so what readers see stays the last good
data. The step reports what it did (``StepReport``); the engine records it.

A step travels to worker processes with its request: it pickles by reference to the
module that defines its function, which the worker imports when the step is called.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from headwater.assets.checks import Check, CheckContext, CheckResult, coerce_result
from headwater.assets.definition import Asset, AssetCheck, find_definitions
from headwater.assets.io.base import InputContext, IOManager, OutputContext
from headwater.assets.keys import AssetKey, key_string
from headwater.assets.mappings import PartitionMapping
from headwater.assets.partitions import PartitionsDefinition
from headwater.assets.report import AssetTryInfo, Materialized, StepReport
from headwater.assets.values import value_metadata
from headwater.authoring.context import Context
from headwater.errors import HeadwaterError
from headwater.modules import MODULE_PREFIX, import_file


class MissingInputError(HeadwaterError):
    """An asset reads a partition of another asset that was never materialized."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionRef:
    """Where a worker finds a function of an asset or check: its module, else its file."""

    module_name: str
    source_file: str | None
    asset_key: AssetKey
    check_name: str | None = None  # None: the asset's own function

    def resolve(self) -> Callable[..., Any]:
        return self.definition().fn

    def definition(self) -> Asset | AssetCheck:
        """The asset (or check) as the module defines it now."""
        module = sys.modules.get(self.module_name)
        if module is None:
            module = _import(self.module_name, self.source_file)
        assets, checks = find_definitions(list(vars(module).values()))
        if self.check_name is None:
            for item in assets:
                if item.key == self.asset_key:
                    return item
        else:
            for check in checks:
                if check.asset_key == self.asset_key and check.name == self.check_name:
                    return check
        what = f"check {self.check_name!r} of " if self.check_name else ""
        raise LookupError(
            f"{what}asset {key_string(self.asset_key)!r} is no longer defined in "
            f"{self.source_file or self.module_name}"
        )


def _import(module_name: str, source_file: str | None) -> Any:
    if module_name.startswith(MODULE_PREFIX + ".") or module_name == "__main__":
        if source_file is None:
            raise LookupError(f"module {module_name!r} has no file to import")
        return import_file(Path(source_file), None if module_name == "__main__" else module_name)
    try:
        return importlib.import_module(module_name)
    except ImportError:
        if source_file is None:
            raise
        return import_file(Path(source_file), module_name)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInput:
    parameter: str | None  # None: a dependency that loads nothing
    key: AssetKey
    io_manager: IOManager
    mapping: PartitionMapping
    partitions: PartitionsDefinition | None
    expects: type | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserCheck:
    name: str
    blocking: bool
    function: FunctionRef
    value_parameter: str | None
    context_parameters: tuple[str, ...]


def time_zone(partitions: PartitionsDefinition | None) -> ZoneInfo:
    """The zone a partitions definition counts days in (UTC without a time dimension)."""
    time = partitions
    dimension = getattr(partitions, "time_dimension", None)
    if dimension is not None:
        time = dimension[1]
    name = getattr(time, "timezone", None)
    if isinstance(name, ZoneInfo):
        return name
    return ZoneInfo(name) if isinstance(name, str) else ZoneInfo("UTC")


class AssetStep:
    """The callable the engine runs for one asset: given a Context, returns a StepReport."""

    portable = True  # the driver sends it along with the try (see TryRequest.function)

    def __init__(
        self,
        *,
        function: FunctionRef,
        context_parameters: tuple[str, ...],
        inputs: tuple[StepInput, ...],
        io_manager: IOManager,
        partitions: PartitionsDefinition | None,
        checks: tuple[Check, ...] | None,
        user_checks: tuple[UserCheck, ...],
        fn: Callable[..., Any] | None = None,
    ) -> None:
        self.function = function
        self.key = function.asset_key
        self.context_parameters = context_parameters
        self.inputs = inputs
        self.io_manager = io_manager
        self.partitions = partitions
        self.checks = checks
        self.user_checks = user_checks
        self._fn = fn
        self._check_fns: dict[str, Callable[..., Any]] = {}
        self.sees_run = False  # see Asset.sees_run

    @classmethod
    def of(
        cls,
        item: Asset,
        inputs: tuple[StepInput, ...],
        io_manager: IOManager,
        user_checks: tuple[AssetCheck, ...],
    ) -> AssetStep:
        step = cls(
            function=FunctionRef(
                module_name=item.module_name, source_file=item.module_file, asset_key=item.key
            ),
            context_parameters=item.context_parameters,
            inputs=inputs,
            io_manager=io_manager,
            partitions=item.partitions,
            checks=item.checks,
            user_checks=tuple(
                UserCheck(
                    name=check.name,
                    blocking=check.blocking,
                    function=FunctionRef(
                        module_name=check.module_name,
                        source_file=check.source_file,
                        asset_key=item.key,
                        check_name=check.name,
                    ),
                    value_parameter=check.value_parameter,
                    context_parameters=check.context_parameters,
                )
                for check in user_checks
            ),
            fn=item.fn,
        )
        step._check_fns = {check.name: check.fn for check in user_checks}
        step.sees_run = item.sees_run
        return step

    def __getstate__(self) -> dict[str, Any]:
        # the function and the built-in checks (closures) are found again by reference
        # in the worker, from the module that defines the asset
        state = {name: getattr(self, name) for name in vars(self)}
        state["_fn"] = None
        state["_check_fns"] = {}
        state["checks"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state)

    def __repr__(self) -> str:
        return f"<AssetStep {key_string(self.key)!r}>"

    @property
    def name(self) -> str:
        return key_string(self.key)

    def __call__(self, ctx: Context) -> StepReport:
        info: AssetTryInfo = ctx.asset_info or AssetTryInfo(base_url="")
        window = None
        if self.partitions is not None and ctx.partition_key is not None:
            window = self.partitions.time_window(ctx.partition_key)
        ctx = dataclasses.replace(ctx, asset_key=self.name, partition_window=window)
        kwargs = self._load_inputs(ctx, info)
        for name in self.context_parameters:
            kwargs[name] = ctx
        if self._fn is None or self.checks is None:
            definition = self.function.definition()
            assert isinstance(definition, Asset)
            self._fn, self.checks = definition.fn, definition.checks
        value = self._fn(**kwargs)
        metadata = {**value_metadata(value), **ctx.output.metadata}
        results = self._run_checks(value, ctx, info, metadata)
        written = not any(r.blocking and not r.passed for r in results)
        if written:
            output = OutputContext(
                asset_key=self.key,
                partition_key=ctx.partition_key,
                run_id=ctx.run_id,
                default_base_url=info.base_url,
            )
            metadata.update(self.io_manager.handle_output(output, value))
        return StepReport(
            materializations=(
                Materialized(
                    asset_key=self.name,
                    partition_key=ctx.partition_key,
                    metadata=metadata,
                    checks=tuple(results),
                    written=written,
                ),
            ),
            added_partitions={k: tuple(v) for k, v in ctx.output.partitions.items()},
        )

    def _load_inputs(self, ctx: Context, info: AssetTryInfo) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for item in self.inputs:
            if item.parameter is None:
                continue
            keys = item.mapping.upstream_keys(
                ctx.partition_key,
                self.partitions,
                item.partitions,
                dynamic=info.dynamic,
                now=info.now or datetime.now(UTC),
            )
            context = InputContext(
                asset_key=item.key,
                partition_keys=keys,
                default_base_url=info.base_url,
                expects=item.expects,
            )
            try:
                kwargs[item.parameter] = item.io_manager.load_input(context)
            except FileNotFoundError as exc:
                which = f" partition(s) {', '.join(keys)}" if keys else ""
                raise MissingInputError(
                    f"asset {self.name!r} reads {key_string(item.key)!r}{which}, which "
                    f"{item.io_manager.describe()} does not hold ({exc}); materialize it "
                    f"first (headwater materialize {key_string(item.key)}), or with --upstream"
                ) from None
        return kwargs

    def _run_checks(
        self, value: Any, ctx: Context, info: AssetTryInfo, metadata: Mapping[str, Any]
    ) -> list[CheckResult]:
        checks = self.checks or ()
        if not checks and not self.user_checks:
            return []
        context = CheckContext(
            asset_key=self.name,
            partition_key=ctx.partition_key,
            window=ctx.partition_window,
            timezone=time_zone(self.partitions),
            logical_date=ctx.logical_date,
            now=info.now or datetime.now(UTC),
            metadata=metadata,
            previous=info.previous.get(self.name),
        )
        results = [check.evaluate(value, context) for check in checks]
        for check in self.user_checks:
            results.append(self._run_user_check(check, value, ctx))
        return results

    def _run_user_check(self, check: UserCheck, value: Any, ctx: Context) -> CheckResult:
        fn = self._check_fns.get(check.name)
        try:
            if fn is None:
                fn = self._check_fns[check.name] = check.function.resolve()
            kwargs: dict[str, Any] = dict.fromkeys(check.context_parameters, ctx)
            if check.value_parameter is not None:
                kwargs[check.value_parameter] = value
            returned = fn(**kwargs)
        except Exception as exc:  # a check that raises fails, with what it raised
            return CheckResult(
                check_name=check.name,
                passed=False,
                blocking=check.blocking,
                description=f"the check raised {type(exc).__name__}: {exc}",
            )
        return coerce_result(check.name, check.blocking, returned)
