"""Discord's request limits, checked the way the real API checks them.

The stand-in is only useful if it refuses what Discord refuses: a reply of 2001
characters, an embed with 26 fields or a command named ``Claim`` must fail here
exactly as it would in production, with an ``Invalid Form Body`` (code 50035)
error that names the offending field.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
ACTION_ROWS_MAX = 5
BUTTONS_PER_ROW_MAX = 5
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
SELECT_OPTIONS_MAX = 25
PLACEHOLDER_MAX = 150
MODAL_TITLE_MAX = 45
TEXT_INPUT_LABEL_MAX = 45
TEXT_INPUT_VALUE_MAX = 4000
COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$", re.UNICODE)
COMMAND_DESCRIPTION_MAX = 100
COMMAND_OPTIONS_MAX = 25
CHOICES_MAX = 25
AUTOCOMPLETE_CHOICES_MAX = 25

FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_IS_COMPONENTS_V2 = 1 << 15

COMPONENT_ACTION_ROW = 1
COMPONENT_BUTTON = 2
COMPONENT_STRING_SELECT = 3
COMPONENT_TEXT_INPUT = 4
COMPONENT_SELECTS = (3, 5, 6, 7, 8)
COMPONENT_LABEL = 18
BUTTON_STYLE_LINK = 5
BUTTON_STYLE_PREMIUM = 6

# Option types (https://discord.com/developers/docs/interactions/application-commands).
OPTION_SUB_COMMAND = 1
OPTION_SUB_COMMAND_GROUP = 2


class FormErrors:
    """Collects field errors into Discord's nested ``errors`` structure."""

    def __init__(self) -> None:
        self.errors: dict[str, Any] = {}

    def add(self, path: str, code: str, message: str) -> None:
        """Record an error at a dotted ``path`` such as ``embeds.0.title``."""
        node = self.errors
        for part in path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def too_long(self, path: str, value: Any, limit: int) -> None:
        """Record an error if ``value`` is a string longer than ``limit``."""
        if isinstance(value, str) and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def body(self) -> dict[str, Any] | None:
        """Return the Discord error body, or None when nothing was wrong."""
        if not self.errors:
            return None
        return {"code": 50035, "errors": self.errors, "message": "Invalid Form Body"}


def _embed_length(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for fld in embed.get("fields") or []:
        total += len(fld.get("name") or "") + len(fld.get("value") or "")
    return total


def check_embeds(errors: FormErrors, embeds: Any) -> None:
    """Check the embed limits (count, per-field lengths and the 6000 total)."""
    if not isinstance(embeds, list):
        return
    if len(embeds) > EMBEDS_MAX:
        errors.add("embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {EMBEDS_MAX} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            errors.add(f"embeds.{i}", "MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
            continue
        errors.too_long(f"embeds.{i}.title", embed.get("title"), EMBED_TITLE_MAX)
        errors.too_long(f"embeds.{i}.description", embed.get("description"), EMBED_DESCRIPTION_MAX)
        errors.too_long(f"embeds.{i}.footer.text", (embed.get("footer") or {}).get("text"), EMBED_FOOTER_MAX)
        errors.too_long(f"embeds.{i}.author.name", (embed.get("author") or {}).get("name"), EMBED_AUTHOR_MAX)
        fields = embed.get("fields") or []
        if len(fields) > EMBED_FIELDS_MAX:
            errors.add(f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, fld in enumerate(fields):
            for key, limit in (("name", EMBED_FIELD_NAME_MAX), ("value", EMBED_FIELD_VALUE_MAX)):
                value = fld.get(key)
                if not value:
                    errors.add(f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_REQUIRED", "This field is required")
                errors.too_long(f"embeds.{i}.fields.{j}.{key}", value, limit)
        total += _embed_length(embed)
    if total > EMBED_TOTAL_MAX:
        errors.add("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")


def _walk_components(components: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for comp in components:
        if not isinstance(comp, dict):
            continue
        out.append(comp)
        out.extend(_walk_components(comp.get("components") or []))
        if isinstance(comp.get("component"), dict):
            out.extend(_walk_components([comp["component"]]))
        if isinstance(comp.get("accessory"), dict):
            out.extend(_walk_components([comp["accessory"]]))
    return out


def walk_components(components: list[Any]) -> list[dict[str, Any]]:
    """Flatten nested components (rows, labels, sections, containers) depth first."""
    return _walk_components(components or [])


def _check_interactive(errors: FormErrors, path: str, comp: dict[str, Any]) -> None:
    ctype = comp.get("type")
    if ctype == COMPONENT_BUTTON:
        style = comp.get("style")
        errors.too_long(f"{path}.label", comp.get("label"), BUTTON_LABEL_MAX)
        if style == BUTTON_STYLE_LINK:
            if not comp.get("url"):
                errors.add(f"{path}.url", "BASE_TYPE_REQUIRED", "This field is required")
        elif style != BUTTON_STYLE_PREMIUM and not comp.get("custom_id"):
            errors.add(f"{path}.custom_id", "BASE_TYPE_REQUIRED", "This field is required")
    if ctype in COMPONENT_SELECTS:
        errors.too_long(f"{path}.placeholder", comp.get("placeholder"), PLACEHOLDER_MAX)
        if ctype == COMPONENT_STRING_SELECT:
            options = comp.get("options") or []
            if not 1 <= len(options) <= SELECT_OPTIONS_MAX:
                errors.add(f"{path}.options", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")
    if "custom_id" in comp:
        errors.too_long(f"{path}.custom_id", comp.get("custom_id"), CUSTOM_ID_MAX)


def check_components(errors: FormErrors, components: Any, *, v2: bool) -> None:
    """Check message components: row layout, lengths and unique custom ids."""
    if not isinstance(components, list):
        return
    if not v2:
        if len(components) > ACTION_ROWS_MAX:
            errors.add("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        for i, row in enumerate(components):
            if not isinstance(row, dict) or row.get("type") != COMPONENT_ACTION_ROW:
                errors.add(
                    f"components.{i}", "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1,).'
                )
                continue
            children = row.get("components") or []
            if not children:
                errors.add(
                    f"components.{i}.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
                )
            has_select = any(c.get("type") in COMPONENT_SELECTS for c in children)
            if (has_select and len(children) > 1) or len(children) > BUTTONS_PER_ROW_MAX:
                errors.add(
                    f"components.{i}.components",
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "The specified component exceeds the maximum width",
                )
            for j, comp in enumerate(children):
                _check_interactive(errors, f"components.{i}.components.{j}", comp)
    else:
        for i, comp in enumerate(walk_components(components)):
            _check_interactive(errors, f"components.{i}", comp)
    seen: set[str] = set()
    for comp in walk_components(components):
        custom_id = comp.get("custom_id")
        if custom_id is None:
            continue
        if custom_id in seen:
            errors.add(
                "components", "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
            )
        seen.add(custom_id)


def check_allowed_mentions(errors: FormErrors, allowed: Any) -> None:
    """Check ``allowed_mentions``: known parse types, parse/list mutual exclusion."""
    if allowed is None:
        return
    if not isinstance(allowed, dict):
        errors.add("allowed_mentions", "MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
        return
    parse = allowed.get("parse") or []
    for i, kind in enumerate(parse):
        if kind not in ("users", "roles", "everyone"):
            errors.add(
                f"allowed_mentions.parse.{i}",
                "BASE_TYPE_CHOICES",
                "Value must be one of {'users', 'roles', 'everyone'}.",
            )
    for kind in ("users", "roles"):
        if kind in parse and allowed.get(kind):
            errors.add(
                "allowed_mentions.parse",
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def check_message(
    payload: dict[str, Any], *, has_files: bool = False, partial: bool = False
) -> dict[str, Any] | None:
    """Validate a message create/edit body.

    Args:
        payload: The JSON body (or ``payload_json``) the client sent.
        has_files: Whether files were attached in the multipart body.
        partial: True for edits, where absent fields keep their value.

    Returns:
        A Discord error body, or None when the message is acceptable.
    """
    errors = FormErrors()
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        errors.add("content", "BASE_TYPE_STRING", "Must be a string.")
    errors.too_long("content", content, CONTENT_MAX)
    check_embeds(errors, payload.get("embeds"))
    flags = payload.get("flags") or 0
    v2 = bool(flags & FLAG_IS_COMPONENTS_V2)
    if v2 and (payload.get("content") or payload.get("embeds")):
        errors.add(
            "content",
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
        )
    check_components(errors, payload.get("components"), v2=v2)
    check_allowed_mentions(errors, payload.get("allowed_mentions"))
    body = errors.body()
    if body is not None:
        return body
    if not partial and not (
        payload.get("content")
        or payload.get("embeds")
        or payload.get("components")
        or payload.get("sticker_ids")
        or payload.get("poll")
        or has_files
    ):
        return {"code": 50006, "message": "Cannot send an empty message"}
    return None


def check_modal(data: Any) -> dict[str, Any] | None:
    """Validate the ``data`` of a type-9 (MODAL) interaction callback."""
    errors = FormErrors()
    if not isinstance(data, dict):
        errors.add("data", "BASE_TYPE_REQUIRED", "This field is required")
        return errors.body()
    title = data.get("title")
    if not title:
        errors.add("data.title", "BASE_TYPE_REQUIRED", "This field is required")
    errors.too_long("data.title", title, MODAL_TITLE_MAX)
    custom_id = data.get("custom_id")
    if not custom_id:
        errors.add("data.custom_id", "BASE_TYPE_REQUIRED", "This field is required")
    errors.too_long("data.custom_id", custom_id, CUSTOM_ID_MAX)
    components = data.get("components") or []
    if not 1 <= len(components) <= ACTION_ROWS_MAX:
        errors.add("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    for i, comp in enumerate(walk_components(components)):
        if comp.get("type") == COMPONENT_TEXT_INPUT:
            errors.too_long(f"data.components.{i}.label", comp.get("label"), TEXT_INPUT_LABEL_MAX)
            errors.too_long(f"data.components.{i}.value", comp.get("value"), TEXT_INPUT_VALUE_MAX)
            errors.too_long(f"data.components.{i}.custom_id", comp.get("custom_id"), CUSTOM_ID_MAX)
            if comp.get("style") not in (1, 2):
                errors.add(f"data.components.{i}.style", "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
        elif comp.get("type") == COMPONENT_LABEL:
            errors.too_long(f"data.components.{i}.label", comp.get("label"), TEXT_INPUT_LABEL_MAX)
    return errors.body()


def check_autocomplete(data: Any) -> dict[str, Any] | None:
    """Validate the ``data`` of a type-8 (AUTOCOMPLETE_RESULT) callback."""
    errors = FormErrors()
    choices = (data or {}).get("choices")
    if not isinstance(choices, list):
        errors.add("data.choices", "BASE_TYPE_REQUIRED", "This field is required")
        return errors.body()
    if len(choices) > AUTOCOMPLETE_CHOICES_MAX:
        errors.add("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for i, choice in enumerate(choices):
        name = choice.get("name")
        if not name or len(name) > 100:
            errors.add(
                f"data.choices.{i}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        value = choice.get("value")
        if isinstance(value, str) and not 1 <= len(value) <= 100:
            errors.add(
                f"data.choices.{i}.value", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
    return errors.body()


def _check_command_options(errors: FormErrors, path: str, options: list[dict[str, Any]]) -> None:
    if len(options) > COMMAND_OPTIONS_MAX:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[str] = set()
    seen_optional = False
    for i, opt in enumerate(options):
        here = f"{path}.{i}"
        name = opt.get("name") or ""
        if not COMMAND_NAME_RE.match(name) or name != name.lower():
            errors.add(f"{here}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if name in names:
            errors.add(
                f"{here}.name",
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option name already exists",
            )
        names.add(name)
        description = opt.get("description") or ""
        if not 1 <= len(description) <= COMMAND_DESCRIPTION_MAX:
            errors.add(f"{here}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if opt.get("type") in (OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP):
            _check_command_options(errors, f"{here}.options", opt.get("options") or [])
            continue
        if opt.get("required"):
            if seen_optional:
                errors.add(
                    f"{here}.required",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > CHOICES_MAX:
            errors.add(f"{here}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if choices and opt.get("autocomplete"):
            errors.add(
                f"{here}.autocomplete",
                "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                "Autocomplete cannot be set with choices",
            )


def check_commands(commands: Any) -> dict[str, Any] | None:
    """Validate a bulk-overwrite body of application commands."""
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.add("_root", "BASE_TYPE_LIST", "Must be a list.")
        return errors.body()
    seen: set[tuple[str, int]] = set()
    for i, cmd in enumerate(commands):
        ctype = cmd.get("type", 1)
        name = cmd.get("name") or ""
        if ctype == 1:
            if not COMMAND_NAME_RE.match(name) or name != name.lower():
                errors.add(f"{i}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            if not 1 <= len(cmd.get("description") or "") <= COMMAND_DESCRIPTION_MAX:
                errors.add(f"{i}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            _check_command_options(errors, f"{i}.options", cmd.get("options") or [])
            if command_text_size(cmd) > COMMAND_TEXT_MAX:
                errors.add(f"{i}", "APPLICATION_COMMAND_TOO_LARGE",
                           f"Command exceeds maximum size ({COMMAND_TEXT_MAX})")
        elif not 1 <= len(name) <= 32:
            errors.add(f"{i}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        if (name, ctype) in seen:
            errors.add(
                f"{i}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add((name, ctype))
    return errors.body()


def numbered(components: list[Any]) -> list[dict[str, Any]]:
    """Components as Discord stores them: each with a numeric ``id`` (depth first from 1).

    Discord numbers every component the bot left without one, and its message schemas
    require the id in what it answers.
    """
    out = json.loads(json.dumps(components or []))
    used = {c["id"] for c in _walk_components(out) if isinstance(c.get("id"), int)}
    counter = itertools.count(1)
    for comp in _walk_components(out):
        if not isinstance(comp.get("id"), int):
            n = next(counter)
            while n in used:
                n = next(counter)
            comp["id"] = n
    return out


COMMAND_TEXT_MAX = 8000


def command_text_size(command: dict[str, Any]) -> int:
    """What Discord counts against a command's 8,000 characters: names, descriptions and
    values of the command, its options, subcommands and choices (documented, not in the spec)."""
    size = len(str(command.get("name") or "")) + len(str(command.get("description") or ""))
    for choice in command.get("choices") or []:
        size += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
    return size + sum(command_text_size(o) for o in command.get("options") or [] if isinstance(o, dict))
