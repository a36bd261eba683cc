"""The core implements the port adapters call (`bot.ports.CorePort`), with its very types."""

from __future__ import annotations

import inspect
import typing

from bot.ports import CorePort
from bot.service.core import Core
from tests.conftest import build


def _members(proto: type) -> tuple[set[str], set[str]]:
    methods = {n for n, v in vars(proto).items() if callable(v) and not n.startswith("_")}
    return methods, set(typing.get_type_hints(proto)) - methods


def test_core_has_every_method_of_the_port_with_the_same_signature() -> None:
    methods, _ = _members(CorePort)
    assert methods  # the protocol declares something
    for name in sorted(methods):
        declared = getattr(CorePort, name)
        implemented = getattr(Core, name, None)
        assert callable(implemented), f"Core has no {name}"
        # `@retrying` keeps the signature (functools.wraps); compare names, defaults and types.
        want, got = inspect.signature(declared), inspect.signature(implemented)
        assert list(want.parameters) == list(got.parameters), name
        assert [p.default for p in want.parameters.values()] == \
            [p.default for p in got.parameters.values()], name
        assert typing.get_type_hints(declared) == typing.get_type_hints(inspect.unwrap(implemented)), name


def test_a_built_core_has_every_attribute_of_the_port(db_url) -> None:  # type: ignore[no-untyped-def]
    core, _clock = build(db_url)
    try:
        _, attributes = _members(CorePort)
        assert attributes == {"settings", "clock", "prefix", "change_listeners", "command_observer"}
        for name in attributes:
            assert hasattr(core, name), name
        port: CorePort = core  # what a type checker checks; adapters annotate the core so
        assert port is core
    finally:
        core.engine.dispose()
