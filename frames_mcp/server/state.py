"""What every tool handler shares: the lifespan's state, and the one check that a token is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import httpx2
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from frames_mcp.config import Settings
from frames_mcp.jobs.service import Jobs
from frames_mcp.useapi.client import UseapiClient
from frames_mcp.useapi.errors import MissingTokenError

if TYPE_CHECKING:
    from frames_mcp.media.delivery import Delivery


# A NamedTuple, not a dataclass: the class is made at every start, and a dataclass costs 2x as much to make.
class AppState(NamedTuple):
    client: UseapiClient
    settings: Settings
    downloads: httpx2.AsyncClient  # artifact and upload_image URLs: no base URL, no token, redirects by hand
    jobs: Jobs  # admission per account, the ledger of known tasks, generations end to end

    def delivery(self, preview: bool, save: bool) -> Delivery:
        from frames_mcp.media.delivery import Delivery  # Pillow is imported at first use, not at startup
        from frames_mcp.media.guard import Guard

        s = self.settings
        guard = Guard.for_upstream(self.client.base_url, allow_private=s.allow_private_urls)
        return Delivery(self.downloads, preview, save, s.output_dir, s.max_image_bytes, guard)


def state_of(ctx: Context[Any]) -> AppState:
    state: AppState = ctx.request_context.lifespan_context
    return state


def require_token(state: AppState, error: type[Exception] = ToolError) -> None:
    """Refuse a call that needs useapi when no token is configured, saying how to set one."""
    if not state.client.has_token:
        raise error(MissingTokenError().describe())
