"""The history database: tables, sessions, queries."""
