"""Card buttons as discord.py items whose custom id is their whole state."""

from __future__ import annotations

import re
from typing import Any

import discord

from adapters.discord import translate as tr


class CardButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=tr.CUSTOM_ID_RE.pattern):
    """A card's button; its custom id is its whole state (see `translate.custom_id`)."""

    def __init__(self, custom_id: str, label: str = "…", style: int = 2, row: int | None = None) -> None:
        super().__init__(discord.ui.Button(label=label, custom_id=custom_id,
                                           style=discord.ButtonStyle(style), row=row))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any],  # type: ignore[override]
                             item: discord.ui.Button[Any], match: re.Match[str]) -> CardButton:
        """Rebuild the button from a press, on any card, before or after a restart."""
        return cls(item.custom_id or match.group(0), item.label or "…", item.style.value)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:  # type: ignore[override]
        """Hand the press to the adapter that owns the client."""
        pressed = tr.parse_custom_id(self.item.custom_id or "")
        adapter = getattr(interaction.client, "adapter", None)
        if pressed is not None and adapter is not None:
            await adapter.on_button(interaction, pressed)


def make_view(rows: list[dict[str, Any]]) -> discord.ui.View | None:
    """A view of card buttons, stopped so discord.py keeps nothing of it in memory."""
    if not rows:
        return None
    view = discord.ui.View(timeout=None)
    for r, row in enumerate(rows):
        for b in row["components"]:
            view.add_item(CardButton(b["custom_id"], b["label"], b["style"], row=r))
    view.stop()
    return view

