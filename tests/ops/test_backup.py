"""`commons-bot backup` while commands run, `restore` into an empty database of the other
kind (SQLite → PostgreSQL and PostgreSQL → SQLite): what members see is the same."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.store.backup import backup, restore
from tests.conftest import Chat, build, drop_pg_schema, fresh_pg_url, require_pg

VIEWS = ("!ledger", "!log", "!needs", "!proposals", "!calls")


def seed(chat: Chat, rounds: int, start: int = 0) -> None:
    """Rounds of offer, claim, submit, approve: each adds a contribution to the ledger."""
    for i in range(start, start + rounds):
        n = i + 1
        assert chat.say("alice", f"!offer Task {i} #python reward:10EUR").startswith(f"T{n} ")
        assert chat.say(f"m{i}", f"!claim T{n}").startswith("You claimed")
        assert chat.say(f"m{i}", f"!submit T{n} https://example.org/pr/{i}").startswith("Your work")
        assert "enters the ledger" in chat.say("alice", f"!approve T{n} thanks")


def views(chat: Chat) -> dict[str, str]:
    return {v: chat.say("bob", v) for v in VIEWS}


@pytest.fixture
def other_url(db_url, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """An empty database of the other kind than `db_url`."""
    if db_url.startswith("sqlite"):
        require_pg()
        url, schema = fresh_pg_url()
        try:
            yield url
        finally:
            drop_pg_schema(schema)
    else:
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"


@pytest.mark.postgres  # one side of the restore is PostgreSQL, whichever `db_url` is
def test_backup_while_commands_run_restores_the_same_record(db_url, other_url, tmp_path):
    core, clock = build(db_url)
    chat = Chat(core, clock)
    seed(chat, 3)
    assert chat.say("alice", "!propose Adopt a code of conduct closes:2d").startswith("P1")
    assert chat.say("fundco", "!fund Docs sprint budget:500EUR closes:7d").startswith("F1")
    # A writer keeps working while the backup is taken.
    stop = threading.Event()
    done: list[int] = []
    writer_chat = Chat(core, clock)

    def writer() -> None:
        i = 3
        while not stop.is_set() and i < 200:
            seed(writer_chat, 1, start=i)
            i += 1
            done.append(i)

    t = threading.Thread(target=writer)
    t.start()
    try:
        while len(done) < 2:  # the writer is under way
            stop.wait(0.01)
        running = tmp_path / "running.backup"
        backup(db_url, running)
    finally:
        stop.set()
        t.join(60)
    assert done, "the writer ran"

    # Taken while commands ran: the copy restores, and it holds whole commands — each
    # approval in the ledger is a need shown as done, and at most the next one was begun.
    restore(other_url, running)
    mid, mid_clock = build(other_url)
    mid_chat = Chat(mid, mid_clock)
    ledger = mid_chat.say("bob", "!ledger")
    rounds = ledger.count("10 EUR (1 contribution)")
    assert 3 <= rounds <= 3 + len(done)
    assert "· done" in mid_chat.say("bob", f"!task T{rounds}")
    # New ids follow the restored ones (PostgreSQL's sequences were moved past them).
    offered = mid_chat.say("alice", "!offer After restore")
    assert offered.startswith((f"T{rounds + 1} ", f"T{rounds + 2} ")), offered
    assert mid_chat.say("m0", "!propose Next one").startswith("P2")
    mid.engine.dispose()

    # Taken at rest: what every member sees is identical.
    final = tmp_path / "final.backup"
    assert main(["backup", "--config", _config(tmp_path, db_url, "src.yaml"), str(final)]) == 0
    restored_url = other_url.replace("restored.sqlite3", "restored2.sqlite3") \
        if other_url.startswith("sqlite") else _fresh_pg()
    assert main(["restore", "--config", _config(tmp_path, restored_url, "dst.yaml"), str(final)]) == 0
    target, target_clock = build(restored_url)
    assert views(Chat(target, target_clock)) == views(chat)
    target.engine.dispose()
    core.engine.dispose()


_schemas: list[str] = []


def _fresh_pg() -> str:
    url, schema = fresh_pg_url()
    _schemas.append(schema)
    return url


@pytest.fixture(autouse=True)
def _drop_schemas() -> Iterator[None]:
    yield
    while _schemas:
        drop_pg_schema(_schemas.pop())


def _config(tmp_path: Path, url: str, name: str) -> str:
    path = tmp_path / name
    path.write_text(f"database_url: '{url}'\ncommunities:\n  - id: demo\n", encoding="utf-8")
    return str(path)


def test_restore_refuses_a_database_that_is_not_empty(db_url, tmp_path, capsys):
    core, clock = build(db_url)
    seed(Chat(core, clock), 1)
    out = tmp_path / "one.backup"
    backup(db_url, out)
    config = _config(tmp_path, db_url, "same.yaml")
    assert main(["restore", "--config", config, str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        "the database of --config is not empty — restore into a new, empty database (or a new SQLite file)")
    assert main(["backup", "--config", config, str(out)]) == 2
    assert "already exists — name a new file" in capsys.readouterr().err
    not_backup = tmp_path / "not.backup"
    not_backup.write_text("hello")
    empty = _config(tmp_path, f"sqlite:///{tmp_path / 'empty.sqlite3'}", "empty.yaml")
    assert main(["restore", "--config", empty, str(not_backup)]) == 2
    assert "not a commons-bot backup" in capsys.readouterr().err
    core.engine.dispose()
