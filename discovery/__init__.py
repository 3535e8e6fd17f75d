"""The reference system under test: upstream simulator, hardened and naive ingest, cache, API.

- `upstream`: seeded per-region catalogs that change every generation (`catalog`).
- `store`: SQLite (WAL) with an FTS5 index; atomic per-region snapshot swaps.
- `ingest`: the hardened client (checks and a persisted breaker) and the naive one.
- `cron`: one refresh task per region; `api`: `/discover`, `/snapshot`, `/health`.

Run as child processes: `python -m discovery upstream ...` and `python -m discovery serve ...`.
"""

from discovery.catalog import Item, build_catalog, catalog_digest

__all__ = ["Item", "build_catalog", "catalog_digest"]
