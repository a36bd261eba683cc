"""Discord's own OpenAPI specification as the oracle for what the stand-in accepts and answers.

`tests/specs/discord/openapi.json` (`tests/specs/README.md` says where it comes from, its
version and licence) is Discord's published description of its HTTP API. Every request
body the stand-in receives is validated against the operation's request schema, and the
stand-in's own answers against the response schema (Draft 2020-12, `$ref`s resolved
through a `referencing` registry holding the whole document).

One known difference is allowed explicitly: the specification types snowflakes as
strings, while discord.py sends some as JSON integers, which Discord accepts.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).resolve().parents[1] / "specs" / "discord"
SPEC_FILE = SPEC_DIR / "openapi.json"
_URI = "urn:discord-openapi"

# Bodies checked in this process, for the test session's summary line.
TOTALS = {"requests": 0, "responses": 0, "reported": 0}


class SpecMissing(RuntimeError):
    """The specification file is missing from `tests/specs/discord/`."""


def available() -> bool:
    """Whether the specification is there (under CI=true it must be)."""
    return SPEC_FILE.is_file()


def require() -> None:
    """Raise when the specification is missing: tests skip locally, fail under CI."""
    if not available():
        raise SpecMissing(f"Discord's OpenAPI specification is missing: {SPEC_FILE}")


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass
class _Operation:
    template: str
    method: str
    pattern: re.Pattern[str]
    request: str | None  # JSON pointer to the request schema
    responses: dict[str, str] = field(default_factory=dict)  # status → pointer


class Spec:
    """The operations of Discord's specification, with validators built on first use."""

    def __init__(self, document: dict[str, Any]) -> None:
        doc = copy.deepcopy(document)
        schemas = doc["components"]["schemas"]
        # The one known quirk: integer snowflakes, which Discord accepts.
        schemas["SnowflakeType"] = {"anyOf": [schemas["SnowflakeType"],
                                              {"type": "integer", "minimum": 0}]}
        self.document = doc
        self.registry: Registry[Any] = Registry().with_resource(
            _URI, Resource.from_contents(doc, default_specification=DRAFT202012))
        self.operations: list[_Operation] = []
        for template, item in doc["paths"].items():
            regex = "".join("[^/]+" if part.startswith("{") else re.escape(part)
                            for part in re.split(r"(\{\w+\})", template))
            for method, op in item.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                request = None
                content = (op.get("requestBody") or {}).get("content") or {}
                if "application/json" in content:
                    request = _pointer("paths", template, method, "requestBody", "content",
                                       "application/json", "schema")
                responses = {}
                for status, resp in op["responses"].items():
                    if "application/json" in (resp.get("content") or {}):
                        responses[status] = _pointer("paths", template, method, "responses", status,
                                                     "content", "application/json", "schema")
                self.operations.append(_Operation(template, method.upper(), re.compile(f"^{regex}$"),
                                                  request, responses))
        # Literal segments beat parameters (`/users/@me` before `/users/{user_id}`).
        self.operations.sort(key=lambda o: o.template.count("{"))

    def operation(self, method: str, path: str) -> _Operation | None:
        """The specification's operation for a concrete API path (without `/api/v10`)."""
        for op in self.operations:
            if op.method == method and op.pattern.match(path):
                return op
        return None

    @functools.cache  # noqa: B019 - one Spec per process
    def _validator(self, pointer: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": f"{_URI}#/{pointer}"}, registry=self.registry)

    def request_errors(self, method: str, path: str, body: Any) -> list[str] | None:
        """Why Discord's schema refuses `body` ([] when it accepts it); None if nothing to check."""
        op = self.operation(method, path)
        if op is None or op.request is None or body is None:
            return None
        return _messages(self._validator(op.request), body)

    def response_errors(self, method: str, path: str, status: int, body: Any) -> list[str] | None:
        """Why the schema refuses a response body; None when the spec says nothing about it."""
        op = self.operation(method, path)
        if op is None or body is None:
            return None
        pointer = op.responses.get(str(status))
        if pointer is None:
            return None
        return _messages(self._validator(pointer), body)


def _messages(validator: Draft202012Validator, body: Any) -> list[str]:
    out = []
    for err in validator.iter_errors(body):
        # anyOf/oneOf errors say little at the top; the most relevant sub-error says what.
        best = best_match([err]) or err
        where = "/".join(str(p) for p in best.absolute_path) or "(body)"
        out.append(f"{where}: {best.message[:300]}")
    return out


@functools.cache
def load() -> Spec | None:
    """The specification, or None when it is missing (and CI is not set)."""
    if not available():
        if os.environ.get("CI", "").lower() == "true":
            raise SpecMissing(f"Discord's OpenAPI specification is missing: {SPEC_FILE}")
        return None
    return Spec(json.loads(SPEC_FILE.read_text()))


def summary_line() -> str | None:
    """`Discord spec: N request bodies and M responses validated` once per session."""
    if TOTALS["reported"] or not (TOTALS["requests"] or TOTALS["responses"]):
        return None
    TOTALS["reported"] = 1
    return (f"Discord OpenAPI specification: {TOTALS['requests']} request bodies and "
            f"{TOTALS['responses']} stand-in responses validated ({SPEC_FILE.name})")
