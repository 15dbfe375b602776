"""Alembic environment: migrations always run on the connection charter hands over."""

from alembic import context

from charter.registry._schema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
