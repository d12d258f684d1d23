"""One service per concern. Services take a SQLAlchemy Session (and settings) and never touch Flask's request."""

from __future__ import annotations

from typing import Any

MAX_ROW_ID = 2**63 - 1  # BIGINT; SQLite's INTEGER too


def row_id(value: Any) -> int | None:
    """A database id from a client's value: a positive integer (a JSON number or a string of digits) that fits
    the database; None for anything else (true, 1.5, 1e300, 10**30, "9" * 5000), which callers answer as not found
    instead of letting the database overflow."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    return value if isinstance(value, int) and 0 < value <= MAX_ROW_ID else None
