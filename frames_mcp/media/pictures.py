"""What the media code needs to know of an image of a task: its position, its URLs and its size."""

from __future__ import annotations

from typing import Protocol


class Picture(Protocol):
    """One image of a task (the tools' `ArtifactOut` is one): read-only, so any model or dataclass fits."""

    @property
    def index(self) -> int: ...  # position in the task, from 0
    @property
    def url(self) -> str: ...  # the full-size image
    @property
    def previewUrl(self) -> str | None: ...  # a smaller preview, when there is one
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
