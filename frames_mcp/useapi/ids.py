"""The documented forms of useapi's ids (taskId, assetId, account email), checked before any id reaches a URL.

One place for each pattern: the tools' input schemas, the client's path checks, the file names of saved images
and the simulator all use these. No MCP types here.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

# `user:<digits>-runwayml:<account email>-task:<uuid>`: checked before any request, so a value such as
# `../accounts` can never reach another endpoint. The email part allows what addresses allow, never `/`.
TASK_ID_PATTERN = r"^user:[0-9]+-runwayml:[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+-task:" + UUID_PATTERN + "$"
TASK_ID_RE = re.compile(TASK_ID_PATTERN)
TASK_ID_FORM = "user:<digits>-runwayml:<email>-task:<uuid>"  # the pattern in words, for whoever must fix one
EMAIL_PATTERN = r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$"

TaskId = Annotated[
    str,
    Field(
        pattern=TASK_ID_PATTERN,
        max_length=400,
        description="From a generate_frames result.",
    ),
]


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    """The pattern checked on input but not published: a model gains nothing from reading the regex, and every
    call pays for the tool list it is in (the taskId's form stays published: models copy it)."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value[:80]!r} is not {what}")
        return value

    return AfterValidator(check)


EMAIL_RE = re.compile(EMAIL_PATTERN)
Email = Annotated[str, Field(max_length=254), _matching(EMAIL_RE, "an email address")]
EMAIL_DOC = "The Runway account. Default: the server's, else useapi.net picks."

# An assetId is passed through opaquely (its documented forms vary: `user:1234-runwayml:<email>-asset:<uuid>`,
# `user:1234-runwayml:<email>:<uuid>`), but it goes into a URL path, so it must be one safe segment:
# no `/`, no `%` (which could decode to one), no `?` or `#`, and not only dots.
ASSET_ID_PATTERN = r"^[A-Za-z0-9._:@+\-]*[A-Za-z0-9_:@+\-][A-Za-z0-9._:@+\-]*$"
ASSET_ID_RE = re.compile(ASSET_ID_PATTERN)
ASSET_ID_MAX = 400
AssetId = Annotated[
    str,
    Field(
        max_length=ASSET_ID_MAX, description="A Runway assetId, from upload_image or a result's artifacts[].assetId."
    ),
    _matching(ASSET_ID_RE, "a Runway assetId (one URL path segment: letters, digits and ._:@+-)"),
]


def account_of(task_id: str) -> str | None:
    """`user:1-runwayml:me@example.com-task:<uuid>` -> `me@example.com`."""
    head, sep, _ = task_id.rpartition("-task:")
    _, found, email = head.partition("-runwayml:")
    return email if sep and found else None
