"""The SQL store (SQLAlchemy 2): SQLite embedded, PostgreSQL in production."""
