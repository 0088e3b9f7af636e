"""The SQLite store: schema and migrations, the connection, and all the SQL, grouped by noun."""
