"""How a problem pydantic finds in a config is worded: `key.path: what is wrong`, in terms
of the YAML file rather than of Python types."""

from __future__ import annotations

from typing import Any


def key_path(loc: tuple[Any, ...]) -> str:
    """`matrix.rooms[0]` for pydantic's `('matrix', 'rooms', 0)`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(err: dict[str, Any]) -> str:
    """One pydantic error in words a person editing the file can act on."""
    msg = err["msg"]
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        return "unknown key — check its spelling against config/example.yaml"
    if kind == "missing":
        return "required key is missing"
    if kind in ("int_parsing", "int_type"):
        msg = "expected a whole number"
    elif kind.startswith("greater_than") or kind.startswith("less_than"):
        msg = msg.replace("Input should be", "expected a number")
    elif kind == "bool_parsing":
        msg = "expected true or false"
    elif kind in ("literal_error", "enum"):  # roles are an enum (bot.domain.vocabulary)
        msg = msg.replace("Input should be", "expected")
    elif kind == "string_pattern_mismatch":
        msg = "expected lowercase letters, digits, '-' or '_' (up to 32)"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    else:
        msg = msg[0].lower() + msg[1:]
    if got is not None and not isinstance(got, dict | list):
        return f"{msg}, got {got!r}"
    return msg
