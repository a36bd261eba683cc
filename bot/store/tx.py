"""One unit of work: a pooled connection in a transaction, its prebuilt-statement runner,
and an ORM session made only when a command needs one.

Why not a `Session` for everything: the commands members send most (claim, submit,
approve, vote, offer, `!needs`) run a handful of prebuilt statements. Measured on this
machine, a `Session` transaction costs about 200 µs against 50 µs for a plain
`Connection`, and one prebuilt `select` costs about 70 µs through `Connection.execute`
against 14 µs on the driver. `Runner` runs the same SQLAlchemy statements on the
driver's cursor: each statement is compiled once by SQLAlchemy for the engine's
dialect, with SQLAlchemy's own bind and result processors for its types (the SQLite
datetime format, booleans, JSON), and errors are raised as SQLAlchemy's exceptions, so
callers cannot tell the two paths apart. Anything it does not cover (SQL defaults,
escaped parameter names) runs through `Connection.execute`, unchanged.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, exc
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ClauseElement

_MISSING = object()
MAX_PLANS = 1024


class Rows:
    """The rows of one statement, with the parts of SQLAlchemy's `Result` the bot uses."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        """Every row."""
        return list(self._rows)

    def first(self) -> Any:
        """The first row, or None."""
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        """The only row; raises `NoResultFound` / `MultipleResultsFound` otherwise."""
        if not self._rows:
            raise exc.NoResultFound("No row was found when one was required")
        if len(self._rows) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0]

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        """The first column of the only row."""
        return self.one()[0]

    def scalars(self) -> Rows:
        """The first column of every row."""
        return Rows([r[0] for r in self._rows], self.rowcount)


class _Plan:
    """A statement compiled for one dialect and one set of parameter names."""

    __slots__ = ("binds", "compiled", "dialect", "expanding", "positional", "prefetch", "results", "row",
                 "slots", "sql", "variants")

    def __init__(self, stmt: ClauseElement, keys: Sequence[str], dialect: Any) -> None:
        self.dialect = dialect
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        if compiled.escaped_bind_names or compiled.literal_execute_params:
            raise NotImplementedError
        self.compiled = compiled
        self.positional = compiled.positional
        # Python-side column defaults SQLAlchemy would fill in for an INSERT/UPDATE.
        self.prefetch: list[tuple[str, Any]] = []
        for col, attr in [(c, "default") for c in compiled.insert_prefetch] + \
                         [(c, "onupdate") for c in compiled.update_prefetch]:
            default = getattr(col, attr)
            if default is None or not (default.is_scalar or default.is_callable):
                raise NotImplementedError
            self.prefetch.append((col.key, default))
        # Bind parameters by the names the SQL uses (anonymous ones, like the values of a
        # literal `IN` list, are also in `compiled.binds` under an internal key).
        self.binds = {name: bind for bind, name in compiled.bind_names.items()}
        # `IN` lists: the SQL depends on each list's length; one variant per lengths.
        self.expanding = [name for name, b in self.binds.items() if b.expanding]
        if compiled.post_compile_params and not self.expanding:
            raise NotImplementedError
        self.variants: dict[tuple[int, ...], tuple[str, list[Any]]] = {}
        self.sql = compiled.string
        names = compiled.positiontup if self.positional else list(self.binds)
        self.slots = [] if self.expanding else [self._slot(n) for n in names or ()]
        self.row = None
        self.results: list[Any] = []
        # A select's columns, or an INSERT/UPDATE's RETURNING columns.
        columns = list(getattr(stmt, "exported_columns", ()))
        if columns:
            self.row = namedtuple("Row", [c.key or f"c{i}" for i, c in enumerate(columns)],  # type: ignore[misc]
                                  rename=True)
            self.results = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                            for c in columns]

    def _slot(self, name: str, key: str | None = None, index: int | None = None) -> tuple[Any, ...]:
        """(driver name, parameter key, list index, fixed value, processor) of one parameter."""
        bind = self.binds[key or name]
        if bind.callable is not None:
            raise NotImplementedError
        fixed = _MISSING if bind.required else bind.value
        if index is not None and fixed is not _MISSING:
            fixed = fixed[index]
        proc = bind.type.dialect_impl(self.dialect).bind_processor(self.dialect)
        return (name, key or name, index, fixed, proc)

    def _variant(self, given: dict[str, Any]) -> tuple[str, list[Any]]:
        lengths = tuple(len(given[n] if n in given else self.binds[n].value) for n in self.expanding)
        found = self.variants.get(lengths)
        if found is None:
            # SQLAlchemy's own expansion, once per lengths, gives the SQL and the names.
            state = self.compiled.construct_expanded_state(given)
            element = {e: (orig, i) for orig, names in state.parameter_expansion.items()
                       for i, e in enumerate(names)}
            names = state.positiontup if self.positional else list(state.parameters)
            slots = [self._slot(n, *element[n]) if n in element else self._slot(n) for n in names]
            found = self.variants[lengths] = (state.statement, slots)
        return found

    def params(self, given: dict[str, Any]) -> tuple[str, Any]:
        """The SQL and the driver's parameters for one execution."""
        if self.prefetch:
            given = dict(given)
            for key, default in self.prefetch:
                if key not in given:
                    given[key] = default.arg(None) if default.is_callable else default.arg
        sql_text, slots = self._variant(given) if self.expanding else (self.sql, self.slots)
        out = []
        for _name, key, index, fixed, proc in slots:
            value = given.get(key, _MISSING)
            if value is _MISSING:
                value = fixed
                if value is _MISSING:
                    raise exc.ArgumentError(f"A value is required for bind parameter {key!r}")
            elif index is not None:
                value = value[index]
            out.append(proc(value) if proc is not None and value is not None else value)
        if self.positional:
            return sql_text, tuple(out)
        return sql_text, dict(zip((slot[0] for slot in slots), out, strict=True))

    def rows(self, raw: list[Any]) -> list[Any]:
        """Driver rows as named tuples, through the types' result processors."""
        make = self.row._make  # type: ignore[union-attr]
        procs = self.results
        if not any(procs):
            return [make(r) for r in raw]
        return [make([p(v) if p is not None else v for p, v in zip(procs, r, strict=True)]) for r in raw]


class Runner:
    """Runs prebuilt SQLAlchemy Core statements on a connection's driver cursor.

    `execute(stmt, params)` takes what `Connection.execute` takes (a dict, or a list of
    dicts for many rows) and returns `Rows`. Plans are cached on the engine's dialect, so
    they are shared by every transaction of the process.
    """

    def __init__(self, conn: Connection) -> None:
        self.sa = conn
        self.dialect = conn.dialect
        cache = getattr(self.dialect, "_commons_plans", None)
        if cache is None:
            cache = {}
            self.dialect._commons_plans = cache  # type: ignore[attr-defined]
        self._plans: dict[Any, _Plan | None] = cache
        self._raw = conn.connection.driver_connection

    def _plan(self, stmt: ClauseElement, keys: tuple[str, ...]) -> _Plan | None:
        key = (stmt, keys)
        try:
            return self._plans[key]
        except KeyError:
            pass
        if len(self._plans) >= MAX_PLANS:
            # Statements are meant to be built once; one built per call must not grow this.
            self._plans.clear()
        try:
            plan: _Plan | None = _Plan(stmt, keys, self.dialect)
        except NotImplementedError:
            plan = None
        self._plans[key] = plan
        return plan

    def execute(self, stmt: ClauseElement, params: dict[str, Any] | list[dict[str, Any]] | None = None
                ) -> Any:
        """Run `stmt` with `params`; many rows when `params` is a list of dicts."""
        many = isinstance(params, list)
        first = (params[0] if params else {}) if many else (params or {})  # type: ignore[index]
        plan = self._plan(stmt, tuple(first))
        if plan is None or (many and plan.expanding):
            return self.sa.execute(stmt, params)
        cur = self._raw.cursor()
        sql_text: str | None = plan.sql
        args: Any = None
        try:
            if many:
                args = [plan.params(p) for p in params]  # type: ignore[union-attr]
                sql_text = args[0][0]
                cur.executemany(sql_text, [a[1] for a in args])
                return Rows([], cur.rowcount)
            sql_text, args = plan.params(first)
            cur.execute(sql_text, args)
            raw = cur.fetchall() if cur.description is not None else []
            return Rows(plan.rows(raw) if raw and plan.row is not None else raw, cur.rowcount)
        except self.dialect.loaded_dbapi.Error as e:
            raise exc.DBAPIError.instance(sql_text, args, e, self.dialect.loaded_dbapi.Error,
                                          dialect=self.dialect) from e
        finally:
            cur.close()


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
        self.conn = Runner(self._sa)
        """The runner for prebuilt statements, on this unit's connection."""

    @property
    def connection(self) -> Connection:
        """This unit's SQLAlchemy `Connection`, for statements run with `Connection.execute`."""
        return self._sa

    @property
    def session(self) -> Session:
        """The ORM session of this unit of work (made on first use)."""
        if self._session is None:
            self._session = Session(bind=self._sa, expire_on_commit=False)
        return self._session

    def flush(self) -> None:
        """Write pending ORM changes (before statements that must see them, and at commit)."""
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
