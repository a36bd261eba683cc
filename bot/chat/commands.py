"""Every command, declared once: how it is written, what it takes, who may use it, whether
its answer is private, and where it sits in `!help` and in a platform's command tree.

Everything else is derived from :data:`COMMANDS`: the parser reads the names, aliases,
`key:value` options and whether skills or description lines are taken; the dispatcher
(`bot.service.commands`) binds each name to exactly one handler and applies the role and
the privacy; `!help` and `docs/commands.md` list the groups and usage lines; Discord
builds its slash commands from the forms and their typed arguments. Adding a command
means one `Command` here and its handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.rules import DECISION_TYPES
from bot.domain.vocabulary import POSITIONS, Outcome, Role


class Group(StrEnum):
    """The sections of `!help`, in the order it lists them."""

    NEEDS = "Needs and claims"
    PROPOSALS = "Proposals"
    FUNDING = "Funding"
    LOOP = "The generative loop"
    TRANSPARENCY = "Transparency"


class Kind(StrEnum):
    """What an argument holds; platforms derive their input types from it."""

    TEXT = "text"  # words: a title, a note, a reason
    LINES = "lines"  # the lines after the first: a description
    REF = "ref"  # an id like T12 (its first word)
    WORD = "word"  # one word: a code, a platform
    COMMAND = "command"  # a command's name
    SKILLS = "skills"  # skills, each written #word
    MEMBER = "member"  # a member (a user on Discord, written <@id>)
    NUMBER = "number"  # a whole number from min_value to max_value
    CHOICE = "choice"  # one of `choices`
    AMOUNT = "amount"  # money, like 40EUR
    WHEN = "when"  # a date or a duration, like 2026-12-24 or 10d
    MONTH = "month"  # a month, like 2026-11


# The longest value of the kinds that have one, unless an argument says otherwise.
_LONGEST = {Kind.AMOUNT: 30, Kind.WHEN: 30, Kind.MONTH: 7}


@dataclass(frozen=True)
class Arg:
    """One argument of a command.

    Attributes:
        name: its name where arguments are named (a Discord option: lowercase).
        description: what to give (at most 100 characters).
        kind: what it holds.
        required: the command is not sent without it where a platform can enforce that.
        key: written `key:value` (an option of the text command); positional when empty.
        refs: for a `REF`, the letters of the ids a platform may suggest (`T`, `TPFB`).
        choices: for a `CHOICE`, the values.
        min_value: for a `NUMBER`.
        max_value: for a `NUMBER`.
        max_length: the longest value, when not the kind's.
    """

    name: str
    description: str
    kind: Kind = Kind.TEXT
    required: bool = False
    key: str = ""
    refs: str = ""
    choices: tuple[str, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None

    @property
    def longest(self) -> int | None:
        """The longest value a platform should accept, if there is a limit."""
        return self.max_length or _LONGEST.get(self.kind)


@dataclass(frozen=True)
class Form:
    """A place of the command in a platform's command tree (`need claim` is Discord's
    `/need claim`), with the arguments it takes there in the order the text command
    writes them. A command may have several (`/venture register`, `/venture show`)."""

    path: str
    args: tuple[Arg, ...] = ()


@dataclass(frozen=True)
class Requires:
    """Who may use a command: members holding `role`, or the role the community's policy
    `policy` names (`offer_role`). `doing` names the action in the refusal
    (`approve work needs the maintainer role`)."""

    doing: str
    role: Role | None = None
    policy: str = ""


@dataclass(frozen=True)
class Command:
    """One command.

    Attributes:
        name: what follows the prefix (`claim`).
        usage: how it is written, without the prefix (`claim T12`).
        summary: what it does, in `!help <command>` and as its description on platforms.
        group: its section of `!help`.
        forms: its places in a platform's command tree, with their arguments.
        aliases: other names that run it (`tasks` for `needs`).
        requires: who may use it; None: everyone.
        private: its answer is for the member alone (personal lists, link codes).
        options: the keys of its `key:value` options (derived from the arguments).
        skills: it takes `#skill` words (derived).
        multiline: the lines after the first are its description (derived).
    """

    name: str
    usage: str
    summary: str
    group: Group
    forms: tuple[Form, ...]
    aliases: tuple[str, ...] = ()
    requires: Requires | None = None
    private: bool = False
    options: frozenset[str] = field(init=False)
    skills: bool = field(init=False)
    multiline: bool = field(init=False)

    def __post_init__(self) -> None:
        args = [a for f in self.forms for a in f.args]
        object.__setattr__(self, "options", frozenset(a.key for a in args if a.key))
        object.__setattr__(self, "skills", any(a.kind == Kind.SKILLS for a in args))
        object.__setattr__(self, "multiline", any(a.kind == Kind.LINES for a in args))


def _need(required: bool = True) -> Arg:
    return Arg("need", "the need, like T12", Kind.REF, required=required, refs="T")


_MEMBER = Arg("member", "whose submitted work (when several are submitted)", Kind.MEMBER)
_PAGE = Arg("page", "page number", Kind.NUMBER, key="page", min_value=1, max_value=100000)
_SKILLS = Arg("skills", "skills, like python web", Kind.SKILLS, max_length=400)
_WATCHED = Arg("skills", "skills, like python web", Kind.SKILLS, required=True, max_length=400)
_DESCRIPTION = Arg("description", "more detail", Kind.LINES, max_length=2000)
_IF = Arg("if_passes", "open it only if this proposal passes, like P3", key="if", max_length=20)
_PROPOSAL = Arg("proposal", "the proposal, like P3", Kind.REF, required=True, refs="P")
_CALL = Arg("call", "the funding call, like F1", Kind.REF, required=True, refs="F")
_VENTURE = Arg("venture", "the venture, like V2", Kind.REF, required=True, refs="V")
_AMOUNT = Arg("amount", "how much, like 400EUR", Kind.AMOUNT, required=True)
_PERIOD = Arg("period", "a month, like 2026-11 (this month if left out)", Kind.MONTH, key="period")
_YES_NO = ("yes", "no")

# Short names for the table below.
G = Group
K = Kind

_DECLARED: tuple[Command, ...] = (
    # ------------------------------------------------------------ needs and claims
    Command("offer", "offer <title> [#skill…] [reward:40EUR] [due:2026-12-24 | due:10d] [slots:2] "
            "[by:V2] [if:P3]",
            "offer a need (a task anyone may claim); by:V2 when your venture pays the reward; "
            "with if:P3 it opens only when P3 passes; further lines are its description",
            G.NEEDS, (Form("need offer", (
                Arg("title", "what is needed (one line)", required=True, max_length=200),
                _SKILLS,
                Arg("reward", "reward, like 40EUR", K.AMOUNT, key="reward"),
                Arg("due", "due date, like 2026-12-24 or 10d", K.WHEN, key="due"),
                Arg("slots", "how many people may work on it at once", K.NUMBER, key="slots",
                    min_value=1, max_value=50),
                Arg("by", "your venture that pays the reward, like V2", K.REF, key="by", refs="V",
                    max_length=20),
                _IF, _DESCRIPTION)),),
            requires=Requires("offering a need", policy="offer_role")),
    Command("needs", "needs [#skill…] [page:N]", "open needs, free slots first, most urgent first",
            G.NEEDS, (Form("need list", (_SKILLS, _PAGE)),), aliases=("tasks",)),
    Command("task", "task T12", "a need with its claims, submissions, reviews and history",
            G.NEEDS, (Form("need show", (_need(),)),), aliases=("need",)),
    Command("claim", "claim T12", "take a free slot of a need", G.NEEDS,
            (Form("need claim", (_need(),)),)),
    Command("renew", "renew T12", "restart your claim's clock", G.NEEDS,
            (Form("need renew", (_need(),)),)),
    Command("release", "release T12", "give your slot back", G.NEEDS,
            (Form("need release", (_need(),)),), aliases=("unclaim",)),
    Command("submit", "submit T12 <link or note>", "hand in your work for review", G.NEEDS,
            (Form("need submit", (_need(), Arg("work", "a link to the work or a short note",
                                               required=True, max_length=1000))),)),
    Command("approve", "approve T12 [@member] [amount:20EUR] [note]",
            "maintainers: accept submitted work; the reward enters the ledger", G.NEEDS,
            (Form("need approve", (
                _need(), _MEMBER, Arg("amount", "reward to credit, like 20EUR", K.AMOUNT, key="amount"),
                Arg("note", "a note for the contributor", max_length=1000))),),
            requires=Requires("approve work", Role.MAINTAINER)),
    Command("changes", "changes T12 [@member] <note>", "maintainers: send submitted work back",
            G.NEEDS, (Form("need changes", (
                _need(), _MEMBER, Arg("note", "what should change", required=True, max_length=1000))),),
            requires=Requires("request changes on work", Role.MAINTAINER)),
    Command("refuse", "refuse T12 [@member] <reason>", "maintainers: refuse work; the slot frees",
            G.NEEDS, (Form("need refuse", (
                _need(), _MEMBER,
                Arg("reason", "why the work is refused", required=True, max_length=1000))),),
            requires=Requires("refuse work", Role.MAINTAINER)),
    Command("cancel", "cancel T12 <reason>", "the offerer or a maintainer: cancel a need", G.NEEDS,
            (Form("need cancel", (
                _need(), Arg("reason", "why the need is cancelled", required=True, max_length=1000))),)),
    Command("pin", "pin T12 @member", "maintainers: keep a claim from expiring until it is unpinned",
            G.NEEDS, (Form("need pin", (
                _need(), Arg("member", "whose claim to keep from expiring", K.MEMBER, required=True))),),
            requires=Requires("pinning a claim", Role.MAINTAINER)),
    Command("unpin", "unpin T12 @member", "maintainers: let a pinned claim's clock run again",
            G.NEEDS, (Form("need unpin", (
                _need(), Arg("member", "whose pinned claim", K.MEMBER, required=True))),),
            requires=Requires("unpinning a claim", Role.MAINTAINER)),
    Command("mine", "mine", "your claims, submissions, offers and votes still to cast", G.NEEDS,
            (Form("mine"),), private=True),
    Command("watch", "watch #skill…", "be told of new needs with these skills", G.NEEDS,
            (Form("watch", (_WATCHED,)),), private=True),
    Command("unwatch", "unwatch #skill…", "stop watching these skills", G.NEEDS,
            (Form("unwatch", (_WATCHED,)),), private=True),
    Command("watching", "watching", "the skills you watch", G.NEEDS, (Form("watching"),),
            private=True),
    # ------------------------------------------------------------ proposals
    Command("propose", "propose <text> [type:consent|significant|quorum|emergency|advice] "
            "[closes:48h | closes:2026-12-01T18:00] [quorum:5] [deciders:@a,@b] [hidden:yes] "
            "[anonymous:yes]",
            "open a proposal (a consent decision unless type: says otherwise); hidden:yes shows "
            "counts only at close, anonymous:yes is a secret ballot; further lines are its "
            "description", G.PROPOSALS, (Form("proposal open", (
                Arg("text", "the proposal (one line)", required=True, max_length=200),
                Arg("type", "the decision type (default consent; /help propose gives each rule)",
                    K.CHOICE, key="type", choices=DECISION_TYPES),
                Arg("deciders", "advice only: the decision makers, like @alice,@bob", key="deciders",
                    max_length=300),
                Arg("hidden", "counts and positions shown only when it closes", K.CHOICE,
                    key="hidden", choices=_YES_NO),
                Arg("anonymous", "a secret ballot: positions never published with names", K.CHOICE,
                    key="anonymous", choices=_YES_NO),
                Arg("closes", "when it closes, like 48h or 2026-12-01T18:00", K.WHEN, key="closes"),
                Arg("quorum", "fewest votes for a valid outcome", K.NUMBER, key="quorum",
                    min_value=1, max_value=100000),
                _DESCRIPTION)),),
            requires=Requires("proposing", policy="propose_role")),
    Command("vote", "vote P3 agree|abstain|disagree|block [reason]",
            "record or replace your vote; disagree and block need a reason", G.PROPOSALS,
            (Form("proposal vote", (
                _PROPOSAL, Arg("position", "your position", K.CHOICE, required=True, choices=POSITIONS),
                Arg("reason", "required to disagree or block", max_length=1000))),)),
    Command("proposals", "proposals [page:N]", "open proposals with counts and time left",
            G.PROPOSALS, (Form("proposal list", (_PAGE,)),), aliases=("proposal_list",)),
    Command("proposal", "proposal P3", "a proposal's counts, every vote and who has not voted",
            G.PROPOSALS, (Form("proposal show", (_PROPOSAL,)),)),
    Command("close", "close P3", "the author or a maintainer: close a proposal now", G.PROPOSALS,
            (Form("proposal close", (_PROPOSAL,)),)),
    Command("decide", "decide P3 passed|not passed <statement>",
            "the decision makers of an advice proposal: record the decision after the advice "
            "period", G.PROPOSALS, (Form("proposal decide", (
                Arg("proposal", "the advice proposal, like P3", K.REF, required=True, refs="P"),
                Arg("decision", "what you decide", K.CHOICE, required=True,
                    choices=(Outcome.PASSED, Outcome.NOT_PASSED)),
                Arg("statement", "the decision and why", required=True, max_length=1000))),)),
    Command("outcome", "outcome P3 <statement> [review:90d]",
            "the author or a maintainer: state a closed proposal's outcome, with a date to "
            "review it", G.PROPOSALS, (Form("proposal outcome", (
                Arg("proposal", "the closed proposal, like P3", K.REF, required=True, refs="P"),
                Arg("statement", "what was decided", required=True, max_length=1000),
                Arg("review", "when to review it, like 90d or 2027-06-01", K.WHEN, key="review"))),)),
    # ------------------------------------------------------------ funding
    Command("fund", "fund <title> budget:5000EUR closes:2027-01-31 [points:100] [if:P3]",
            "the foundation: open a funding call (with if:P3, only when P3 passes); further "
            "lines are its description", G.FUNDING, (Form("funding open", (
                Arg("title", "what the call funds (one line)", required=True, max_length=200),
                Arg("budget", "budget, like 5000EUR", K.AMOUNT, required=True, key="budget"),
                Arg("closes", "when it closes, like 2027-01-31 or 14d", K.WHEN, required=True,
                    key="closes"),
                Arg("points", "each member's allowance", K.NUMBER, key="points", min_value=1,
                    max_value=1_000_000),
                _IF, _DESCRIPTION)),),
            requires=Requires("opening a funding call", Role.FOUNDATION)),
    Command("pitch", "pitch F1 <title> ask:1200EUR",
            "pitch work to a funding call; further lines are its description", G.FUNDING,
            (Form("funding pitch", (
                _CALL, Arg("title", "what you would do (one line)", required=True, max_length=200),
                Arg("ask", "how much you ask, like 1200EUR", K.AMOUNT, required=True, key="ask"),
                _DESCRIPTION)),),
            requires=Requires("pitching", policy="pitch_role")),
    Command("back", "back B4 <points>", "spend points of your allowance on a pitch (0 withdraws)",
            G.FUNDING, (Form("funding back", (
                Arg("pitch", "the pitch, like B4", K.REF, required=True, refs="B"),
                Arg("points", "points of your allowance (0 withdraws)", K.NUMBER, required=True,
                    min_value=0, max_value=1_000_000))),)),
    Command("calls", "calls", "funding calls", G.FUNDING, (Form("funding list"),),
            aliases=("funding",)),
    Command("call", "call F1", "a call's pitches with ask, points and allocation if it closed now",
            G.FUNDING, (Form("funding show", (_CALL,)),)),
    Command("closecall", "closecall F1", "the foundation: close a funding call now", G.FUNDING,
            (Form("funding close", (_CALL,)),),
            requires=Requires("closing a funding call", Role.FOUNDATION)),
    # ------------------------------------------------------------ the generative loop
    Command("venture", "venture <name> pledge:10% | venture V2 [add @member | leave]",
            "register a venture with its pledge (10% of revenue or 200EUR/month), show one, add a "
            "member or leave", G.LOOP, (
                Form("venture register", (
                    Arg("name", "the venture's name", required=True, max_length=200),
                    Arg("pledge", "what it gives back: 10% or 200EUR/month", K.AMOUNT, required=True,
                        key="pledge"))),
                Form("venture show", (_VENTURE,)),
                Form("venture member", (
                    _VENTURE, Arg("action", "add a member or leave", K.CHOICE, required=True,
                                  choices=("add", "leave")),
                    Arg("member", "the member to add", K.MEMBER))))),
    Command("ventures", "ventures", "every venture: pledge, revenue declared, due and given back",
            G.LOOP, (Form("venture list"),)),
    Command("revenue", "revenue V2 4000EUR [period:2026-11]",
            "venture members: declare revenue; the pledged share becomes due", G.LOOP,
            (Form("venture revenue", (
                _VENTURE, Arg("amount", "revenue, like 4000EUR", K.AMOUNT, required=True), _PERIOD)),)),
    Command("receive", "receive 400EUR from:V2 [note]",
            "the foundation: record money received, split between operations and the commons fund",
            G.LOOP, (Form("books receive", (
                _AMOUNT,
                Arg("source", "who gave it: a venture like V2, or @member", K.REF, required=True,
                    key="from", refs="V", max_length=60),
                Arg("note", "a note", max_length=500))),),
            requires=Requires("recording a receipt", Role.FOUNDATION)),
    Command("spend", "spend 120EUR <purpose>", "the foundation: record a spend from the operations fund",
            G.LOOP, (Form("books spend", (
                _AMOUNT, Arg("purpose", "what it paid for", required=True, max_length=500))),),
            requires=Requires("recording a spend", Role.FOUNDATION)),
    Command("reverse", "reverse R7 <reason>",
            "the foundation: reverse a mistaken receipt (R7) or spend (S3); it stays on record",
            G.LOOP, (Form("books reverse", (
                Arg("record", "the receipt or spend, like R7 or S3", K.WORD, required=True,
                    max_length=12),
                Arg("reason", "why it is reversed", required=True, max_length=500))),),
            requires=Requires("reversing a record of the books", Role.FOUNDATION)),
    Command("paid", "paid T12 [@member]", "the payer: mark an approved reward paid", G.LOOP,
            (Form("books paid", (
                _need(), Arg("member", "whom it was paid to (when several)", K.MEMBER))),)),
    Command("books", "books [period:2026-11]",
            "the pool's funds, the month's flows, ventures' pledges, payables owed", G.LOOP,
            (Form("books show", (_PERIOD,)),)),
    # ------------------------------------------------------------ transparency
    Command("ledger", "ledger [@member | #skill]", "contributions and rewards, totals per member",
            G.TRANSPARENCY, (Form("ledger", (
                Arg("member", "only this member", K.MEMBER),
                Arg("skill", "only this skill", K.SKILLS, max_length=50))),)),
    Command("log", "log [T12 | P3 | F1] [page:N]", "the public event log, newest first",
            G.TRANSPARENCY, (Form("log", (
                Arg("object", "only this need, proposal, call or pitch", K.REF, refs="TPFB"),
                _PAGE)),)),
    Command("whoami", "whoami", "your member, linked identities and roles", G.TRANSPARENCY,
            (Form("whoami"),), private=True),
    Command("link", "link [code | confirm | deny]",
            "join your accounts on different platforms: the code comes privately and works "
            "once, sent from the other account in a direct message only; then the account "
            "that asked for it confirms (or denies)", G.TRANSPARENCY, (Form("link", (
                Arg("code", "the code !link gave you on the other platform, or confirm or deny",
                    K.WORD, max_length=20),)),), private=True),
    Command("unlink", "unlink <platform>", "separate that platform's account from you, from that "
            "account or from your first one (which never leaves); its record stays",
            G.TRANSPARENCY, (Form("unlink", (
                Arg("platform", "matrix, discord or console", K.WORD, required=True,
                    max_length=16),)),), private=True),
    Command("help", "help [command]", "usage of every command, or of one", G.TRANSPARENCY,
            (Form("help", (Arg("command", "one command", K.COMMAND, max_length=20),)),),
            aliases=("commands",)),
)

COMMANDS: dict[str, Command] = {c.name: c for c in _DECLARED}
"""Every command by name, in the order `!help` lists them."""
ALIASES: dict[str, str] = {a: c.name for c in _DECLARED for a in c.aliases}
"""Other names of commands (`tasks` → `needs`)."""


def _check() -> None:
    names = [c.name for c in _DECLARED]
    aliases = [a for c in _DECLARED for a in c.aliases]
    paths = [f.path for c in _DECLARED for f in c.forms]
    if len(set(names + aliases)) != len(names) + len(aliases):
        raise ValueError("bot.chat.commands: a command name or alias is declared twice")
    if len(set(paths)) != len(paths):
        raise ValueError("bot.chat.commands: two forms share a path")


_check()


def lookup(word: str) -> Command | None:
    """The command a name or an alias (lowercase) stands for, or None."""
    return COMMANDS.get(ALIASES.get(word, word))


def usage(name: str, prefix: str = "!") -> str:
    """The usage line of a command, with the prefix."""
    return f"{prefix}{COMMANDS[name].usage}"
