"""Charts as SVG rendered on the server with pygal: values printed on the bars, so they
read without colour; every chart has a text alternative on its page (a table)."""

from __future__ import annotations

from typing import Any

from bot.domain.rules import minor_digits
from bot.domain.vocabulary import CallState

# Dark bars with a lighter outline; the printed values carry the information.
_STYLE_ARGS = dict(background="white", plot_background="white", foreground="#1a1a1a",
                   foreground_strong="#000", foreground_subtle="#555",
                   colors=("#1f4e79", "#7a3b00", "#2e6b2e", "#5b2a86"), value_font_size=14,
                   label_font_size=13, major_label_font_size=13, title_font_size=16,
                   value_colors=("#000",))


def _chart(kind: str, title: str, **config: Any):  # type: ignore[no-untyped-def]
    import pygal
    from pygal.style import Style

    config.setdefault("show_legend", False)
    config.setdefault("height", 360)
    chart = getattr(pygal, kind)(
        title=title, style=Style(**_STYLE_ARGS), js=[], print_values=True, width=720, margin=16,
        truncate_label=-1, disable_xml_declaration=False, **config)
    return chart


def call_bars(call: dict[str, Any]) -> bytes:
    """A funding call's pitches as bars: what each would get now (or got) against its ask."""
    pitches = call["pitches"]
    verb = "would get now" if call["state"] == CallState.OPEN else "got"
    chart = _chart("HorizontalBar", f"{call['ref']}: what each pitch {verb} ({call['currency']})",
                   show_legend=True, legend_at_bottom=True, height=max(200, 80 + 70 * len(pitches)))
    chart.x_labels = [f"{p['ref']} {p['title'][:40]}" for p in pitches]
    digits = 10 ** minor_digits(call["currency"])
    chart.add(verb, [p["gets_minor"] / digits for p in pitches])
    chart.add("asks", [p["ask_minor"] / digits for p in pitches])
    return chart.render()


def ledger_bars(monthly: dict[str, dict[str, int]]) -> bytes:
    """Rewards approved per month, one series per currency."""
    months = sorted({m for series in monthly.values() for m in series})
    chart = _chart("Bar", "Rewards approved per month", show_legend=len(monthly) > 1,
                   legend_at_bottom=True)
    chart.x_labels = months
    for cur, series in monthly.items():
        chart.add(cur, [series.get(m, 0) / 10 ** minor_digits(cur) for m in months])
    return chart.render()
