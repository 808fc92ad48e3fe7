"""Named SQL queries kept in ``.sql`` files beside the code that runs them.

A file holds blocks introduced by ``-- name: query_name``; :func:`load_queries`
returns them as a read-only mapping. Placeholders are asyncpg's ``$1``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

__all__ = ["load_queries"]

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.M)


def load_queries(package: str, filename: str) -> Mapping[str, str]:
    """The queries of ``filename`` inside ``package``, by name."""
    text = (resources.files(package) / filename).read_text("utf-8")
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{package}/{filename}: query {name!r} defined twice")
        queries[name] = body.strip().rstrip(";")
    return MappingProxyType(queries)
