"""Reading what useapi answers: a body capped in size, parsed as JSON of a bounded depth, and Retry-After.

Anything unreadable (not JSON, not UTF-8, a thousand levels deep, far larger than any documented answer) is
None or an InvalidResponseError, which the client treats like any garbled answer: reads retry it, a create
follows the may-have-been-created path. No MCP types here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx2

from frames_mcp.useapi.errors import InvalidResponseError
from frames_mcp.useapi.models import finite


def retry_after_seconds(response: httpx2.Response) -> float | None:
    """Retry-After in seconds when it is a finite number (clamped later, in `busy_delay`), else None."""
    value = response.headers.get("Retry-After", "")
    number = finite(value, -math.inf, math.inf) if value.strip() else None
    return number


def too_deep(data: Any, limit: int) -> bool:
    """True when JSON nests deeper than `limit` (checked without recursion)."""
    level: list[tuple[Any, int]] = [(data, 1)]
    while level:
        node, depth = level.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        level.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(body: bytes, max_depth: int) -> Any:
    """The JSON in `body`, or None for anything unreadable: not JSON, not UTF-8, nested too deep to parse."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    return None if too_deep(data, max_depth) else data


def too_large(status: int, cap: int) -> InvalidResponseError:
    return InvalidResponseError(
        f"The answer was larger than {cap // 1024} KB, far more than any answer useapi documents; it was not read.",
        status_code=status,
    )
