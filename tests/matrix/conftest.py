"""Fixtures for tests against a real Synapse homeserver on 127.0.0.1.

``synapse`` starts one homeserver for the whole test session (~2 s). Without
a usable Synapse (no ``.venv-synapse``, start-up failure) the tests are
skipped on a developer machine but *fail* when ``CI=true``, so CI can never go
green by skipping them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.matrix.clients import MakePerson, Person, new_client
from tests.matrix.synapse import SynapseServer, SynapseStartError


def _synapse_unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Synapse is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"Synapse unavailable: {reason}")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def synapse() -> AsyncIterator[SynapseServer]:
    """One Synapse homeserver for the test session, stopped and deleted at the end.

    Tests may `SynapseServer.restart` it; it keeps its port and data.
    """
    server = SynapseServer()
    problem = None
    try:
        await server.start()
    except (SynapseStartError, OSError) as error:
        problem = str(error)
    if problem is not None:
        # Outside the except block, so the report is the reason, not a traceback chain.
        await server.aclose()
        _synapse_unavailable(problem)
    try:
        yield server
    finally:
        await server.aclose()


@pytest_asyncio.fixture
async def make_person(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[MakePerson]:
    """Factory for fresh, logged-in, syncing users; all are closed after the test.

    Call ``await make_person("alice")`` or ``await make_person("bob", e2e=True)``;
    with ``e2e`` the client keeps its encryption store under ``tmp_path``.
    """
    people: list[Person] = []

    async def make(prefix: str = "user", *, e2e: bool = False) -> Person:
        store_dir = tmp_path / f"store-{prefix}-{len(people)}" if e2e else None
        person = Person(await new_client(synapse, prefix, store_dir=store_dir))
        people.append(person)
        await person.start_syncing()
        return person

    yield make
    for person in people:
        await person.aclose()
