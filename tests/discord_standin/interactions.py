"""Interactions users trigger: commands, components, modals, autocomplete."""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import validation as v
from .model import (
    DEFAULT_EVERYONE_PERMISSIONS,
    Guild,
)
from .protocol import (
    INTERACTION_APPLICATION_COMMAND,
    INTERACTION_AUTOCOMPLETE,
    INTERACTION_MESSAGE_COMPONENT,
    INTERACTION_MODAL_SUBMIT,
    OPTION_BOOLEAN,
    OPTION_CHANNEL,
    OPTION_INTEGER,
    OPTION_MENTIONABLE,
    OPTION_NUMBER,
    OPTION_ROLE,
    OPTION_STRING,
    OPTION_USER,
)
from .records import (
    InteractionHandle,
)

_log = logging.getLogger("tests.discord_standin.server")


class InteractionsMixin:
    """Part of :class:`.server.DiscordStandIn`."""

    # ------------------------------------------------------------------ injection: interactions

    def age(self, handle: InteractionHandle, seconds: float) -> None:
        """Make `handle` `seconds` older (its 3-second window and 15-minute token age with it)."""
        handle.created_at -= seconds

    async def send_interaction(
        self,
        type: int,
        data: dict[str, Any],
        *,
        channel_id: int,
        user_id: int,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
        triggering: InteractionHandle | None = None,
        created_ago: float = 0.0,
    ) -> InteractionHandle:
        """Dispatch a raw INTERACTION_CREATE and return its handle.

        The convenience methods (:meth:`send_command`, :meth:`send_component`,
        :meth:`send_modal_submit`, :meth:`send_autocomplete`) build ``data`` the way
        Discord does; use this one for shapes they do not cover.

        Args:
            type: Interaction type (2 command, 3 component, 4 autocomplete, 5 modal submit).
            data: The interaction ``data``.
            channel_id: Where it happens (guild channel or DM channel).
            user_id: Who triggers it.
            message: For components: the message carrying the component.
            locale: The user's locale.
        """
        channel = self.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id}")
        guild = self._guild_of(channel_id)
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}")
        if guild is not None and user_id not in guild.members:
            raise ValueError(f"user {user_id} is not a member of guild {guild.id}")
        # created_ago: an interaction made that long ago (e.g. queued during an outage).
        iid = self._ids.past(created_ago) if created_ago else self._ids.next()
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": type,
            "data": data,
            "token": f"standin-{secrets.token_urlsafe(48)}",
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": str(channel_id),
            "channel": self._channel_payload(channel),
        }
        if guild is not None:
            user_perms = guild.permissions_of(user_id)
            payload["channel"]["permissions"] = str(user_perms)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=guild.members[user_id].payload(self.users[user_id], permissions=user_perms),
                app_permissions=str(guild.permissions_of(self.bot_user.id)),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            payload.update(
                user=self.users[user_id].payload(),
                app_permissions=str(DEFAULT_EVERYONE_PERMISSIONS),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        source_message_id = None
        if message is not None:
            payload["message"] = self._rest_message(message)
            source_message_id = int(message["id"])
        handle = InteractionHandle(
            self,
            payload,
            channel_id=channel_id,
            user_id=user_id,
            guild_id=guild.id if guild else None,
            source_message_id=source_message_id,
        )
        handle.triggering = triggering
        handle.created_at -= created_ago
        self.interactions[iid] = handle
        self._by_token[handle.token] = handle
        self._dispatch("INTERACTION_CREATE", payload, handle=handle)
        return handle

    def _find_command(self, guild_id: int | None, name: str, ctype: int = 1) -> dict[str, Any] | None:
        scopes = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            cmd = self._commands.get(scope, {}).get((name, ctype))
            if cmd is not None:
                return cmd
        return None

    def _command_path(
        self, channel_id: int, name: str
    ) -> tuple[dict[str, Any], list[str], list[dict[str, Any]], Guild | None]:
        guild = self._guild_of(channel_id)
        top, *subs = name.split()
        cmd = self._find_command(guild.id if guild else None, top)
        if cmd is None:
            scope = f"guild {guild.id}" if guild else "global scope"
            raise LookupError(
                f"/{top} is not registered for {scope} — Discord would not offer it. "
                f"Registered: {[c['name'] for c in self.commands(guild.id if guild else None)]}"
            )
        schema = cmd.get("options") or []
        for sub in subs:
            nxt = next((o for o in schema if o["name"] == sub and o["type"] in (1, 2)), None)
            if nxt is None:
                raise LookupError(f"/{name}: no subcommand {sub!r}")
            schema = nxt.get("options") or []
        if any(o["type"] in (1, 2) for o in schema):
            raise LookupError(f"/{name} is a group; name a subcommand")
        return cmd, subs, schema, guild

    def _option_value(
        self, opt: dict[str, Any], value: Any, guild: Guild | None, resolved: dict[str, dict[str, Any]]
    ) -> Any:
        otype = opt["type"]
        name = opt["name"]
        if otype == OPTION_STRING:
            value = str(value)
            if opt.get("min_length") is not None and len(value) < opt["min_length"]:
                raise ValueError(f"option {name}: shorter than {opt['min_length']}")
            if opt.get("max_length") is not None and len(value) > opt["max_length"]:
                raise ValueError(f"option {name}: longer than {opt['max_length']}")
        elif otype in (OPTION_INTEGER, OPTION_NUMBER):
            value = int(value) if otype == OPTION_INTEGER else float(value)
            if opt.get("min_value") is not None and value < opt["min_value"]:
                raise ValueError(f"option {name}: below {opt['min_value']}")
            if opt.get("max_value") is not None and value > opt["max_value"]:
                raise ValueError(f"option {name}: above {opt['max_value']}")
        elif otype == OPTION_BOOLEAN:
            value = bool(value)
        elif otype in (OPTION_USER, OPTION_CHANNEL, OPTION_ROLE, OPTION_MENTIONABLE):
            value = self._resolve_snowflake(name, otype, int(value), guild, resolved)
        else:
            raise ValueError(f"option {name}: option type {otype} is not supported by the stand-in")
        choices = opt.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {name}: {value!r} is not one of the choices")
        return value

    def _resolve_snowflake(
        self, name: str, otype: int, sid: int, guild: Guild | None, resolved: dict[str, dict[str, Any]]
    ) -> str:
        if otype in (OPTION_USER, OPTION_MENTIONABLE) and sid in self.users:
            resolved.setdefault("users", {})[str(sid)] = self.users[sid].payload()
            if guild is not None and sid in guild.members:
                resolved.setdefault("members", {})[str(sid)] = guild.members[sid].payload(
                    permissions=guild.permissions_of(sid)
                )
        elif otype in (OPTION_ROLE, OPTION_MENTIONABLE) and guild is not None and sid in guild.roles:
            resolved.setdefault("roles", {})[str(sid)] = guild.roles[sid].payload()
        elif otype == OPTION_CHANNEL and sid in self.channels:
            channel = self.channels[sid]
            data = self._channel_payload(channel)
            data["permissions"] = str(guild.permissions_of(self.bot_user.id) if guild else 0)
            resolved.setdefault("channels", {})[str(sid)] = data
        else:
            raise ValueError(f"option {name}: {sid} does not resolve to a known user/role/channel")
        return str(sid)

    def _command_data(
        self,
        channel_id: int,
        name: str,
        options: Mapping[str, Any] | None,
        *,
        focused: str | None = None,
    ) -> dict[str, Any]:
        cmd, subs, schema, guild = self._command_path(channel_id, name)
        options = dict(options or {})
        by_name = {o["name"]: o for o in schema}
        unknown = set(options) - set(by_name)
        if unknown:
            raise ValueError(f"/{name}: unknown option(s) {sorted(unknown)}; has {sorted(by_name)}")
        if focused is None:
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
            if missing:
                raise ValueError(f"/{name}: required option(s) {missing} missing — Discord would not send it")
        elif focused not in by_name or not by_name[focused].get("autocomplete"):
            raise ValueError(f"/{name}: option {focused!r} has no autocomplete")
        resolved: dict[str, dict[str, Any]] = {}
        leaf: list[dict[str, Any]] = []
        for opt in schema:  # Discord sends options in declaration order
            if opt["name"] not in options:
                continue
            value = options[opt["name"]]
            if opt["name"] == focused:
                # While typing, Discord sends the raw text whatever the option type.
                leaf.append({"name": opt["name"], "type": opt["type"], "value": str(value), "focused": True})
            else:
                leaf.append(
                    {
                        "name": opt["name"],
                        "type": opt["type"],
                        "value": self._option_value(opt, value, guild, resolved),
                    }
                )
        nested = leaf
        top_schema = cmd.get("options") or []
        chain: list[dict[str, Any]] = []
        for sub in subs:
            opt = next(o for o in top_schema if o["name"] == sub)
            chain.append(opt)
            top_schema = opt.get("options") or []
        for opt in reversed(chain):
            nested = [{"name": opt["name"], "type": opt["type"], "options": nested}]
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": cmd["name"],
            "type": cmd.get("type", 1),
            "options": nested,
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    async def send_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel_id: int,
        user_id: int,
        locale: str = "en-US",
        created_ago: float = 0.0,
    ) -> InteractionHandle:
        """A user runs a slash command that the bot registered.

        Args:
            name: Command path: ``"ping"``, ``"task claim"`` or ``"admin task cancel"``.
            options: Option values by name; types come from the registered command
                (users, roles and channels by id, resolved like Discord does).
            channel_id: Where the command is run.
            user_id: Who runs it.
            locale: The user's locale.
            created_ago: Seconds since the interaction was made (a late delivery).

        Raises:
            LookupError: The command (path) is not registered where it is run.
            ValueError: Options Discord's client would not let the user send.
        """
        data = self._command_data(channel_id, name, options)
        return await self.send_interaction(
            INTERACTION_APPLICATION_COMMAND, data, channel_id=channel_id, user_id=user_id, locale=locale,
            created_ago=created_ago,
        )

    async def send_autocomplete(
        self,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        channel_id: int,
        user_id: int,
    ) -> InteractionHandle:
        """A user types into an autocomplete option; the handle's response holds the choices.

        Args:
            name: Command path as for :meth:`send_command`.
            options: Values typed so far (the focused one as raw text).
            focused: Name of the option being typed.
            channel_id: Where.
            user_id: Who.
        """
        data = self._command_data(channel_id, name, options, focused=focused)
        return await self.send_interaction(
            INTERACTION_AUTOCOMPLETE, data, channel_id=channel_id, user_id=user_id
        )

    async def send_component(
        self,
        message_id: int,
        custom_id: str,
        *,
        user_id: int,
        values: Sequence[Any] | None = None,
    ) -> InteractionHandle:
        """A user presses a button or picks from a select menu on a stored message.

        Args:
            message_id: A message the bot sent (any channel, ephemeral included).
            custom_id: The component's custom id; it must be on the message and enabled.
            user_id: Who clicks.
            values: For select menus: the picked values (ids for user/role/channel selects).
        """
        message = self.messages.get(message_id)
        if message is None:
            raise KeyError(f"unknown message {message_id}")
        component = next(
            (c for c in v.walk_components(message["components"]) if c.get("custom_id") == custom_id), None
        )
        if component is None:
            found = [
                c.get("custom_id") for c in v.walk_components(message["components"]) if c.get("custom_id")
            ]
            raise ValueError(f"message {message_id} has no component {custom_id!r} (has {found})")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; Discord would not let anyone press it")
        ctype = component["type"]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        channel_id = int(message["channel_id"])
        if ctype in v.COMPONENT_SELECTS:
            picked = [str(x) for x in values or []]
            lo, hi = component.get("min_values", 1), component.get("max_values", 1)
            if not lo <= len(picked) <= hi:
                raise ValueError(f"select {custom_id!r} takes {lo}..{hi} values, got {len(picked)}")
            if ctype == v.COMPONENT_STRING_SELECT:
                offered = [o["value"] for o in component.get("options", [])]
                bad = [p for p in picked if p not in offered]
                if bad:
                    raise ValueError(f"select {custom_id!r} does not offer {bad}")
            else:
                resolved: dict[str, dict[str, Any]] = {}
                kind = {5: OPTION_USER, 6: OPTION_ROLE, 7: OPTION_MENTIONABLE, 8: OPTION_CHANNEL}[ctype]
                for p in picked:
                    self._resolve_snowflake(custom_id, kind, int(p), self._guild_of(channel_id), resolved)
                data["resolved"] = resolved
            data["values"] = picked
        elif values is not None:
            raise ValueError(f"component {custom_id!r} is not a select menu")
        return await self.send_interaction(
            INTERACTION_MESSAGE_COMPONENT, data, channel_id=channel_id, user_id=user_id, message=message
        )

    def _modal_submit_component(
        self, comp: dict[str, Any], values: dict[str, Any], used: set[str], ids: Iterator[int]
    ) -> dict[str, Any]:
        ctype = comp.get("type")
        out: dict[str, Any] = {"type": ctype, "id": comp.get("id") or next(ids)}
        if ctype == v.COMPONENT_ACTION_ROW:
            out["components"] = [
                self._modal_submit_component(c, values, used, ids) for c in comp.get("components", [])
            ]
        elif ctype == v.COMPONENT_LABEL:
            out["component"] = self._modal_submit_component(comp["component"], values, used, ids)
        elif ctype == v.COMPONENT_TEXT_INPUT:
            custom_id = comp["custom_id"]
            used.add(custom_id)
            value = str(values.get(custom_id, comp.get("value") or ""))
            if comp.get("required", True) and not value:
                raise ValueError(f"text input {custom_id!r} is required")
            if comp.get("min_length") is not None and value and len(value) < comp["min_length"]:
                raise ValueError(f"text input {custom_id!r} needs at least {comp['min_length']} characters")
            if len(value) > (comp.get("max_length") or v.TEXT_INPUT_VALUE_MAX):
                raise ValueError(
                    f"text input {custom_id!r} allows at most {comp.get('max_length')} characters"
                )
            out.update(custom_id=custom_id, value=value)
        elif ctype in v.COMPONENT_SELECTS:
            custom_id = comp["custom_id"]
            used.add(custom_id)
            picked = values.get(custom_id, [])
            out.update(
                custom_id=custom_id,
                values=[str(p) for p in ([picked] if isinstance(picked, str) else picked)],
            )
        return out

    async def send_modal_submit(
        self,
        source: InteractionHandle,
        values: Mapping[str, Any],
        *,
        user_id: int | None = None,
    ) -> InteractionHandle:
        """A user fills in and submits the modal the bot opened in answer to ``source``.

        Args:
            source: The interaction the bot answered with a modal (callback type 9).
            values: Text input values (and select values) by custom id; omitted
                inputs keep their pre-filled value.
            user_id: Who submits (defaults to whoever triggered ``source``).
        """
        modal = source.modal
        if modal is None:
            raise ValueError(f"{source!r} was not answered with a modal")
        used: set[str] = set()
        ids = itertools.count(1)
        components = [
            self._modal_submit_component(c, dict(values), used, ids) for c in modal.get("components", [])
        ]
        unknown = set(values) - used
        if unknown:
            raise ValueError(f"modal {modal.get('custom_id')!r} has no input(s) {sorted(unknown)}")
        data = {"custom_id": modal["custom_id"], "components": components}
        message = self.messages.get(source.source_message_id or 0)
        return await self.send_interaction(
            INTERACTION_MODAL_SUBMIT,
            data,
            channel_id=source.channel_id,
            user_id=user_id or source.user_id,
            message=message,
            triggering=source,
        )
