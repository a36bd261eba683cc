"""Arbitrary text never breaks the parser or the console: a command or one clear line."""

import asyncio
import io
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.console.adapter import ConsoleAdapter
from bot.chat.commands import COMMANDS
from bot.chat.parser import ParseError, parse
from bot.chat.render import MAX_REPLY
from bot.runtime import Runtime
from tests.conftest import build

words = st.sampled_from([f"!{c}" for c in COMMANDS] + ["T1", "P1", "F1", "B1", "#python", "reward:5EUR",
                                                       "due:2d", "slots:3", "closes:1h", "quorum:2",
                                                       "budget:9EUR", "ask:1EUR", "page:2", "agree",
                                                       "block", "@bob", "0", "99999999999", "\n"])
texts = st.one_of(
    st.text(max_size=300),
    st.lists(words, max_size=12).map(" ".join),
    st.tuples(st.sampled_from([f"!{c} " for c in COMMANDS]),
              st.text(alphabet=string.printable + "äß✋🙂\u202e", max_size=200)).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_parser_gives_a_command_or_a_clear_error(text):
    try:
        parsed = parse(text)
    except ParseError as exc:
        assert exc.message and "\n" not in exc.message and len(exc.message) < 300
        return
    if parsed is not None:
        assert parsed.name in COMMANDS


_state = {}


def _console():
    if "console" not in _state:
        import tempfile

        d = tempfile.mkdtemp()
        core, _clock = build(f"sqlite:///{d}/fuzz.sqlite3")
        out = io.StringIO()
        console = ConsoleAdapter(Runtime(core), core.settings, community=core.settings.communities[0],
                                 out=out)
        asyncio.run(console.start())
        for line in ["/as alice", "!offer Seed need #python reward:5EUR", "!propose Seed",
                     "/as fundco", "!fund Seed budget:100EUR closes:3d", "/as carol",
                     "!pitch F1 Seed ask:5EUR"]:
            console.line(line)
        _state["console"] = (console, out)
    return _state["console"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["alice", "bob", "fundco"]), texts)
def test_console_answers_every_input_with_short_clear_output(member, text):
    console, out = _console()
    console.member = member
    out.seek(0)
    out.truncate()
    first_line = text.split("\n", 1)[0]
    assert console.line(text) is True or first_line.strip() in ("/quit", "/exit")
    printed = out.getvalue()
    if first_line.strip().startswith(("!", "/")) and first_line.strip() not in ("!", "/"):
        assert printed.strip(), f"no answer to {text!r}"
    assert "Traceback" not in printed and "Something went wrong" not in printed, printed
    assert "Open needs" in _reply(console, "!needs") or "No open needs" in _reply(console, "!needs")


def _reply(console, text):
    out = console.out
    pos = out.tell()
    console.line(text)
    return out.getvalue()[pos:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["alice", "bob", "fundco"]), texts)
def test_core_replies_once_within_4000_characters(member, text):
    from bot.chat.text import clean
    from bot.ports import CommunityId, InboundMessage, Platform

    console, _ = _console()
    replies = console.core.handle(InboundMessage(
        community=CommunityId("demo"), platform=Platform("console"), space="c", sender=member,
        sender_name=member, text=text))
    # The core reads the text as cleaned at the edge (controls and ANSI removed, issue 9).
    stripped = clean(text).strip()
    is_command = stripped.startswith("!") and len(stripped) > 1 and not stripped[1:2].isspace()
    assert len(replies) == (1 if is_command else 0), (text, replies)
    for r in replies:
        assert 0 < len(r.text) <= MAX_REPLY
        assert "Something went wrong" not in r.text, text
        if r.text.startswith("✗"):
            assert "\n" not in r.text
