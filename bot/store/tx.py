"""One unit of work: a pooled connection in one transaction, and an ORM session on the
same transaction made only when a command needs one.

Every statement runs through SQLAlchemy. Prebuilt Core statements (`bot.store.sql` and
the other statement modules of `bot.store`) run with `Tx.execute`, which is
`Connection.execute`: SQLAlchemy compiles each module-level statement once (its compiled
cache) and covers many-row inserts with `insertmanyvalues`. Aggregates the ORM serves
better (calls with their pitches and backings, ventures, the books) use `Tx.session`, joined
to the same transaction. Pending ORM changes are flushed before any statement runs, so
a statement always sees what the ORM wrote earlier in the same unit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, Executable
from sqlalchemy.orm import Session


class Tx:
    """A unit of work: begin, run statements and ORM work, then commit or roll back.

    It checks out a connection and begins at once (on SQLite that is `BEGIN IMMEDIATE`);
    the ORM `Session` is made on first use, joined to the same transaction. As a context
    manager it commits on success and always gives the connection back.
    """

    def __init__(self, engine: Engine) -> None:
        self._session: Session | None = None
        self._sa = engine.connect()
        try:
            self._sa.begin()
        except BaseException:
            # e.g. SQLite's write lock still taken after the busy timeout: give the
            # connection back before the caller retries.
            self._sa.close()
            raise

    @property
    def connection(self) -> Connection:
        """This unit's SQLAlchemy `Connection` (its dialect, its execution options)."""
        return self._sa

    def execute(self, stmt: Executable, params: dict[str, Any] | list[dict[str, Any]] | None = None
                ) -> CursorResult[Any]:
        """Run a Core statement in this unit (`Connection.execute`; a list of dicts runs it
        for many rows), after writing any pending ORM changes so that it sees them."""
        if self._session is not None:
            self._session.flush()
        return self._sa.execute(stmt, params)

    @property
    def session(self) -> Session:
        """The ORM session of this unit of work (made on first use)."""
        if self._session is None:
            self._session = Session(bind=self._sa, expire_on_commit=False)
        return self._session

    def flush(self) -> None:
        """Write pending ORM changes (at commit, and where a new row's id is needed)."""
        if self._session is not None:
            self._session.flush()

    def commit(self) -> None:
        """Flush and commit; the unit can begin again afterwards."""
        self.flush()
        self._drop_session()
        self._sa.commit()

    def rollback(self) -> None:
        """Undo everything since the last begin."""
        self._drop_session()
        self._sa.rollback()

    def begin(self) -> None:
        """Begin again after a commit or rollback."""
        self._sa.begin()

    def close(self) -> None:
        """Give the connection back to the pool (rolling back anything not committed)."""
        self._drop_session()
        self._sa.close()

    def _drop_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Tx:
        return self

    def __exit__(self, et, ev, tb) -> None:  # type: ignore[no-untyped-def]
        try:
            if et is None:
                self.commit()
        finally:
            self.close()
