"""Hostile input through the whole core on SQLite and PostgreSQL: never an internal error.

The strategies mix what a probe found breaking the core (issue 9): digits `int` refuses
(`²`), digits of other scripts, lone surrogates, NUL and other controls, ANSI escapes,
dates at the ends of datetime's range, any option on any command, odd sender ids, display
names and message ids. Every command gets one reply; none is the internal error, and
nothing is logged as a failure.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chat.commands import COMMANDS
from bot.chat.render import MAX_REPLY
from bot.ports import CommunityId, InboundMessage, Platform
from tests.conftest import DATABASES, Chat, build, drop_pg_schema, migrated_pg_url, require_pg, sqlite_url

INTERNAL = "Something went wrong"
ODD = ["²", "³", "¹", "٣", "৩", "๓", "１", "\u00b2\u00b3", "\x00", "\ud800", "\udfff", "\x1b[2J",
       "\x1b]0;x\x07", "\r", "\u2028", "\x85", "\x7f", "\u202e", "\ufeff", "🙂", "‍", "\t"]
DATES = ["0001-01-01T00:00+01:00", "9999-12-31T23:00-02:00", "9999-12-31T23:59+00:00",
         "0001-01-01", "9999-12-31", "2026-02-30", "2026-12-01T25:00", "2026-12-01T18:00Z",
         "2026-12-01T18:00+14:00", "2026-12-01T18:00-23:59", "2027-01-31", "0d", "0h", "0m",
         "999999w", "999999d", "1m", "3660d", "3661d", "2026-W01-1", "²d", "1²h"]
AMOUNTS = ["0EUR", "1EUR", "0.01EUR", "99999999999EUR", "9999999999999EUR", "12.505EUR",
           "EUR5", "5JPY", "5.5JPY", "5BHD", "²EUR", "٣EUR", "-5EUR", "5 EUR", "5"]
NUMBERS = ["0", "1", "2", "3", "50", "51", "99999999999", "-1", "²", "٣", "１", "1²", "00", ""]
REFS = ["T1", "T2", "P1", "F1", "B1", "1", "T0", "T99999999999", "T²", "T٣", "#1", "t1", "B²"]
OPTIONS = sorted({o for spec in COMMANDS.values() for o in spec.options} | {"x", "reward", "amount"})


def _odd(text: str) -> st.SearchStrategy[str]:
    """`text` with odd characters put in at a random place."""
    return st.tuples(st.sampled_from(ODD), st.integers(0, len(text))).map(
        lambda t: text[:t[1]] + t[0] + text[t[1]:])


values = st.one_of(st.sampled_from(DATES + AMOUNTS + NUMBERS + REFS),
                   st.sampled_from(DATES + AMOUNTS + NUMBERS + REFS).flatmap(_odd),
                   st.text(max_size=12))
words = st.one_of(
    st.sampled_from(REFS + NUMBERS + ["agree", "block", "disagree", "@bob", "@everyone",
                                      "<@&123>", "<t:1:R>", "[x](https://e.example)", "#python",
                                      "#py²", "\n", "\n📣 P9 closed"]),
    st.tuples(st.sampled_from(OPTIONS), values).map(lambda kv: f"{kv[0]}:{kv[1]}"),
    values,
)
commands = st.tuples(st.sampled_from(sorted(COMMANDS)), st.lists(words, max_size=6)).map(
    lambda t: " ".join(["!" + t[0], *t[1]]))
texts = st.one_of(commands, commands.flatmap(_odd), st.text(max_size=80).map(lambda s: "!" + s))
senders = st.one_of(st.sampled_from(["alice", "bob", "fundco", "carol"]),
                    st.sampled_from(["bob", "@bob:example.org"]).flatmap(_odd))
names = st.one_of(st.sampled_from(["alice", "bob", ""]), st.text(max_size=20),
                  st.sampled_from(["bob", "Ann"]).flatmap(_odd))


class _Failures(logging.Handler):
    """Counts what the core logs as a failed command."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module", params=DATABASES)
def seeded(request, tmp_path_factory) -> Iterator[Chat]:  # type: ignore[no-untyped-def]
    """A core with a need, a claim, a proposal, a call and a pitch, shared by the examples."""
    schema = None
    if request.param == "sqlite":
        url = sqlite_url(tmp_path_factory.mktemp('fuzz'), 'fuzz.sqlite3')
    else:
        require_pg()
        url, schema = migrated_pg_url()
    core, clock = build(url)
    chat = Chat(core, clock)
    for member, line in [("alice", "!offer Seed #python reward:5EUR slots:2"), ("bob", "!claim T1"),
                         ("bob", "!submit T1 done"), ("alice", "!offer Other reward:100EUR slots:3"),
                         ("alice", "!propose Seed"), ("fundco", "!fund Seed budget:100EUR closes:3d"),
                         ("carol", "!pitch F1 Seed ask:5EUR")]:
        chat.say(member, line)
    try:
        yield chat
    finally:
        core.engine.dispose()
        if schema:
            drop_pg_schema(schema)


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(sender=senders, name=names, text=texts,
       message_id=st.one_of(st.none(), st.text(max_size=8).map(lambda s: "$" + s)))
def test_hostile_input_never_gives_an_internal_error(seeded, sender, name, text, message_id):
    failures = _Failures()
    logger = logging.getLogger("bot")
    logger.addHandler(failures)
    try:
        replies = seeded.core.handle(InboundMessage(
            community=CommunityId("demo"), platform=Platform("console"), space="c", sender=sender,
            sender_name=name, text=text, message_id=message_id,
            roles=frozenset({"maintainer", "foundation"}) if sender == "alice" else frozenset()))
    finally:
        logger.removeHandler(failures)
    assert not failures.records, [r.getMessage() for r in failures.records]
    assert len(replies) <= 1
    for r in replies:
        assert 0 < len(r.text) <= MAX_REPLY
        assert INTERNAL not in r.text, (text, r.text)
        if r.text.startswith("✗"):
            assert "\n" not in r.text, r.text
        assert not [ch for ch in r.text if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cs")], \
            repr(r.text)
