"""Alembic environment: the engine comes from the caller (see bot.store.db.upgrade)."""

from alembic import context

from bot.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run migrations on the connection or engine handed over in the config's attributes."""
    given = config.attributes.get("connection")
    if given is not None:
        # Inside the caller's transaction (a restore), which the caller commits.
        context.configure(connection=given, target_metadata=target_metadata,
                          render_as_batch=given.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = config.attributes.get("engine")
    if engine is None:
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
