"""The documented forms of useapi's ids (taskId, assetId, account email), checked before any id reaches a URL.

One place for each pattern: the tools' input schemas, the client's path checks, the file names of saved images
and the simulator all use these. No MCP types here.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

# `user:<digits>-runwayml:<account email>-task:<uuid>`: checked before any request, so a value such as
# `../accounts` can never reach another endpoint. The email part allows what addresses allow, never `/`.
TASK_ID_PATTERN = r"^user:[0-9]+-runwayml:[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+-task:" + UUID_PATTERN + "$"
TASK_ID_RE = re.compile(TASK_ID_PATTERN)
EMAIL_PATTERN = r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$"

TaskId = Annotated[
    str,
    Field(
        pattern=TASK_ID_PATTERN,
        max_length=400,
        description="The taskId returned by generate_frames: user:<digits>-runwayml:<account email>-task:<uuid>.",
        examples=["user:1234-runwayml:me@example.com-task:0f8e3c1a-7b2d-4c59-9a1e-2f6b8d4c7e10"],
    ),
]
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254)]
EMAIL_DOC = (
    "Optional Runway API account email. If not provided, the server's configured default account is used; "
    "with none configured the API randomly selects an available account."
)

# An assetId is passed through opaquely (its documented forms vary: `user:1234-runwayml:<email>-asset:<uuid>`,
# `user:1234-runwayml:<email>:<uuid>`), but it goes into a URL path, so it must be one safe segment:
# no `/`, no `%` (which could decode to one), no `?` or `#`, and not only dots.
ASSET_ID_PATTERN = r"^[A-Za-z0-9._:@+\-]*[A-Za-z0-9_:@+\-][A-Za-z0-9._:@+\-]*$"
ASSET_ID_RE = re.compile(ASSET_ID_PATTERN)
ASSET_ID_MAX = 400
AssetId = Annotated[
    str,
    Field(
        pattern=ASSET_ID_PATTERN,
        max_length=ASSET_ID_MAX,
        description="A Runway assetId, as upload_image or an image of a finished task (artifacts[].assetId) gives it.",
        examples=["user:1234-runwayml:me@example.com-asset:0f8e3c1a-7b2d-4c59-9a1e-2f6b8d4c7e10"],
    ),
]


def account_of(task_id: str) -> str | None:
    """`user:1-runwayml:me@example.com-task:<uuid>` -> `me@example.com`."""
    head, sep, _ = task_id.rpartition("-task:")
    _, found, email = head.partition("-runwayml:")
    return email if sep and found else None
