"""Which function handles each declared command.

A handler binds itself with `@handles("claim")` beside its code; :func:`check`, run by the
dispatcher once every handler module is imported, refuses to start when a command of
`bot.chat.commands` has no handler. A name that is not declared, or declared twice, fails
at the decorator.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.chat.commands import COMMANDS
from bot.config import Policies
from bot.service.context import CommandCtx, Reply

Handler = Callable[[CommandCtx], Reply]

HANDLERS: dict[str, Handler] = {}
"""The handler of each command, by name."""


def handles(name: str) -> Callable[[Handler], Handler]:
    """Bind the decorated function to the declared command `name`.

    Raises:
        ValueError: `name` is not declared in `bot.chat.commands`, or has a handler already.
    """

    def bind(handler: Handler) -> Handler:
        if name not in COMMANDS:
            raise ValueError(f"@handles({name!r}): no such command is declared in bot.chat.commands")
        if name in HANDLERS:
            raise ValueError(f"@handles({name!r}): {HANDLERS[name].__qualname__} handles it already")
        HANDLERS[name] = handler
        return handler

    return bind


def check() -> None:
    """Every declared command has its handler, and the policies its roles name exist.

    Raises:
        ValueError: what is missing.
    """
    missing = sorted(COMMANDS.keys() - HANDLERS.keys())
    if missing:
        raise ValueError(f"commands declared without a handler (@handles): {', '.join(missing)}")
    for c in COMMANDS.values():
        if c.requires and c.requires.policy and c.requires.policy not in Policies.model_fields:
            raise ValueError(f"{c.name}: requires the role of policy {c.requires.policy!r}, "
                             "which communities do not have")


def may_use(ctx: CommandCtx) -> None:
    """Refuse unless the member holds the role the command requires (before its handler runs,
    so a member without it learns what the command needs, not what the object holds)."""
    requires = COMMANDS[ctx.parsed.name].requires
    if requires is not None:
        role = getattr(ctx.policies, requires.policy) if requires.policy else requires.role
        ctx.require(role, requires.doing)
