"""Adapters behind the ports: Cosmos DB (production) and SQLite (embedded, local and tests)."""
