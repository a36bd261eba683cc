"""Text → command. Pure: no database, no platform.

A command is the prefix and a name, then words. `key:value` words whose key the command
knows are options, `#word` is a skill (for the commands that take skills), and for
`offer`, `propose`, `fund` and `pitch` the remaining words of the first line are the title
and further lines the description; elsewhere the remaining words are the note, link or
reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.chat.render import echo, esc


@dataclass(frozen=True)
class Spec:
    """What a command accepts and how it is written."""

    usage: str
    summary: str
    options: frozenset[str] = frozenset()
    skills: bool = False
    multiline: bool = False


def _spec(usage: str, summary: str, options: str = "", skills: bool = False,
          multiline: bool = False) -> Spec:
    return Spec(usage, summary, frozenset(options.split()), skills, multiline)


COMMANDS: dict[str, Spec] = {
    "offer": _spec(
        "offer <title> [#skill…] [reward:40EUR] [due:2026-12-24 | due:10d] [slots:2] [by:V2] "
        "[if:P3]",
        "offer a need (a task anyone may claim); by:V2 when your venture pays the reward; with "
        "if:P3 it opens only when P3 passes; further lines are its description",
        "reward due slots by if", skills=True, multiline=True),
    "needs": _spec("needs [#skill…] [page:N]", "open needs, free slots first, most urgent first",
                   "page", skills=True),
    "task": _spec("task T12", "a need with its claims, submissions, reviews and history"),
    "claim": _spec("claim T12", "take a free slot of a need"),
    "renew": _spec("renew T12", "restart your claim's clock"),
    "release": _spec("release T12", "give your slot back"),
    "submit": _spec("submit T12 <link or note>", "hand in your work for review"),
    "approve": _spec("approve T12 [@member] [amount:20EUR] [note]",
                     "maintainers: accept submitted work; the reward enters the ledger", "amount"),
    "changes": _spec("changes T12 [@member] <note>", "maintainers: send submitted work back"),
    "refuse": _spec("refuse T12 [@member] <reason>", "maintainers: refuse work; the slot frees"),
    "cancel": _spec("cancel T12 <reason>", "the offerer or a maintainer: cancel a need"),
    "pin": _spec("pin T12 @member", "maintainers: keep a claim from expiring until it is unpinned"),
    "unpin": _spec("unpin T12 @member", "maintainers: let a pinned claim's clock run again"),
    "mine": _spec("mine", "your claims, submissions, offers and votes still to cast"),
    "watch": _spec("watch #skill…", "be told of new needs with these skills", skills=True),
    "unwatch": _spec("unwatch #skill…", "stop watching these skills", skills=True),
    "watching": _spec("watching", "the skills you watch"),
    "propose": _spec("propose <text> [type:consent|significant|quorum|emergency|advice] "
                     "[closes:48h | closes:2026-12-01T18:00] [quorum:5] [deciders:@a,@b] "
                     "[hidden:yes] [anonymous:yes]",
                     "open a proposal (a consent decision unless type: says otherwise); hidden:yes "
                     "shows counts only at close, anonymous:yes is a secret ballot; further lines "
                     "are its description", "type closes quorum deciders hidden anonymous",
                     multiline=True),
    "vote": _spec("vote P3 agree|abstain|disagree|block [reason]",
                  "record or replace your vote; disagree and block need a reason"),
    "proposals": _spec("proposals [page:N]", "open proposals with counts and time left", "page"),
    "proposal": _spec("proposal P3", "a proposal's counts, every vote and who has not voted"),
    "close": _spec("close P3", "the author or a maintainer: close a proposal now"),
    "decide": _spec("decide P3 passed|not passed <statement>",
                    "the decision makers of an advice proposal: record the decision after the "
                    "advice period"),
    "outcome": _spec("outcome P3 <statement> [review:90d]",
                     "the author or a maintainer: state a closed proposal's outcome, with a date "
                     "to review it", "review"),
    "fund": _spec("fund <title> budget:5000EUR closes:2027-01-31 [points:100] [if:P3]",
                  "the foundation: open a funding call (with if:P3, only when P3 passes); "
                  "further lines are its description",
                  "budget closes points if", multiline=True),
    "pitch": _spec("pitch F1 <title> ask:1200EUR",
                   "pitch work to a funding call; further lines are its description",
                   "ask", multiline=True),
    "back": _spec("back B4 <points>", "spend points of your allowance on a pitch (0 withdraws)"),
    "calls": _spec("calls", "funding calls"),
    "call": _spec("call F1", "a call's pitches with ask, points and allocation if it closed now"),
    "closecall": _spec("closecall F1", "the foundation: close a funding call now"),
    "venture": _spec("venture <name> pledge:10% | venture V2 [add @member | leave]",
                     "register a venture with its pledge (10% of revenue or 200EUR/month), "
                     "show one, add a member or leave", "pledge"),
    "ventures": _spec("ventures", "every venture: pledge, revenue declared, due and given back"),
    "revenue": _spec("revenue V2 4000EUR [period:2026-11]",
                     "venture members: declare revenue; the pledged share becomes due", "period"),
    "receive": _spec("receive 400EUR from:V2 [note]",
                     "the foundation: record money received, split between operations and "
                     "the commons fund", "from"),
    "spend": _spec("spend 120EUR <purpose>", "the foundation: record a spend from the operations fund"),
    "reverse": _spec("reverse R7 <reason>",
                     "the foundation: reverse a mistaken receipt (R7) or spend (S3); it stays on record"),
    "paid": _spec("paid T12 [@member]", "the payer: mark an approved reward paid"),
    "books": _spec("books [period:2026-11]",
                   "the pool's funds, the month's flows, ventures' pledges, payables owed", "period"),
    "ledger": _spec("ledger [@member | #skill]", "contributions and rewards, totals per member",
                    skills=True),
    "log": _spec("log [T12 | P3 | F1] [page:N]", "the public event log, newest first", "page"),
    "whoami": _spec("whoami", "your member, linked identities and roles"),
    "link": _spec("link [code | confirm | deny]",
                  "join your accounts on different platforms: the code comes privately and works "
                  "once, sent from the other account in a direct message only; then the account "
                  "that asked for it confirms (or denies)"),
    "unlink": _spec("unlink <platform>", "separate that platform's account from you, from that "
                    "account or from your first one (which never leaves); its record stays"),
    "help": _spec("help [command]", "usage of every command, or of one"),
}

ALIASES = {"tasks": "needs", "need": "task", "unclaim": "release", "funding": "calls",
           "proposal_list": "proposals", "commands": "help"}

_OPTION_RE = re.compile(r"^([a-z]+):(.+)$", re.IGNORECASE | re.ASCII)
_SKILL_RE = re.compile(r"^#([\w][\w.+-]{0,47})$")


class ParseError(ValueError):
    """The text is a command but cannot be understood; the message says how to write it."""

    def __init__(self, message: str, command: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.command = command


@dataclass(frozen=True)
class Parsed:
    """A command as written: its name and the parts of its text."""

    name: str
    words: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    skills: tuple[str, ...] = ()
    description: str = ""

    @property
    def rest(self) -> str:
        """The remaining words of the first line, joined."""
        return " ".join(self.words)


# After this word the rest of the first line is words only: no options, no skills
# (`!offer -- Rename slots:2 to seats:2`; the Discord adapter puts free text there).
LITERAL = "--"


def usage(name: str, prefix: str = "!") -> str:
    """The usage line of a command, with the prefix."""
    return f"{prefix}{COMMANDS[name].usage}"


def parse(text: str, prefix: str = "!") -> Parsed | None:
    """Parse a chat message.

    Returns:
        None when the text is not addressed to the bot (no prefix, or the prefix alone).

    Raises:
        ParseError: an unknown command or malformed options.
    """
    stripped = text.strip()
    if not stripped.startswith(prefix):
        return None
    body = stripped[len(prefix):]
    first, _, more = body.partition("\n")
    tokens = first.split()
    if not tokens or body[:1].isspace():
        return None
    raw_name = tokens[0].lower()
    name = ALIASES.get(raw_name, raw_name)
    if name not in COMMANDS:
        raise ParseError(f"unknown command {esc(prefix)}{echo(tokens[0], 30)} — see {prefix}help "
                         "for the list")
    spec = COMMANDS[name]
    words: list[str] = []
    options: dict[str, str] = {}
    skills: list[str] = []
    literal = False
    for tok in tokens[1:]:
        if literal:
            words.append(tok)
            continue
        if tok == LITERAL:
            literal = True
            continue
        m = _OPTION_RE.match(tok)
        if m and m.group(1).lower() in spec.options:
            key = m.group(1).lower()
            if key in options:
                raise ParseError(f"{key}: is given twice — give it once", name)
            options[key] = m.group(2)
            continue
        if spec.skills and tok.startswith("#"):
            s = _SKILL_RE.match(tok)
            if not s:
                raise ParseError(
                    f"'{echo(tok, 40)}' is not a skill — skills are #word, letters and digits", name)
            skill = s.group(1).lower()
            if skill not in skills:
                skills.append(skill)
            continue
        words.append(tok)
    description = more.strip() if spec.multiline else ""
    if not spec.multiline and more.strip():
        # For notes and reasons, further lines belong to the text.
        words.extend(more.split())
    return Parsed(name, tuple(words), options, tuple(skills), description)
