"""Reference images for generate_frames' imageAssetId1..3: upload_image and describe_image."""

# No `from __future__ import annotations` here: the SDK reads the annotations of every tool at each start,
# and as strings they would be evaluated there again, twice per tool (startup, BENCHMARKS.md).
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import Field

from frames_mcp.jobs.service import asset_account
from frames_mcp.server import declare
from frames_mcp.server.results.schemas import ImageDescription, UploadedAsset
from frames_mcp.server.state import AppState, require_token, state_of
from frames_mcp.useapi.errors import FramesError
from frames_mcp.useapi.ids import AssetId, Email


def register(mcp: MCPServer[AppState]) -> None:
    declare.tool(mcp, title="Upload a reference image", annotations=declare.CHANGES_UPSTREAM)(upload_image)
    declare.tool(mcp, title="Describe a reference image as a prompt", annotations=declare.READS_UPSTREAM)(
        describe_image
    )


async def upload_image(
    ctx: Context[AppState],
    path: Annotated[
        str | None,
        Field(
            max_length=4096,
            description="Absolute path of an image file on the server's machine.",
        ),
    ] = None,
    url: Annotated[str | None, Field(max_length=8192, description="An http or https URL of the image.")] = None,
    data: Annotated[
        str | None,
        Field(description="The image in base64, bare or as a data: URL."),
    ] = None,
    name: Annotated[
        str | None, Field(max_length=200, description="The asset's name at Runway. Default: the file name.")
    ] = None,
    email: Annotated[
        Email | None,
        Field(description="The Runway account to hold it (generations using it run there). Default: the server's."),
    ] = None,
) -> Annotated[CallToolResult, UploadedAsset]:
    """Upload a reference image (PNG, JPEG, WebP or GIF) to Runway for its assetId, for generate_frames'
    imageAssetId1..3 or describe_image. Give one of path, url or data. No credits.
    """
    state = state_of(ctx)
    require_token(state)
    from frames_mcp.media import sources  # Pillow is imported at first use, not at startup
    from frames_mcp.media.guard import Guard

    guard = Guard(allow_private=state.settings.allow_private_urls)
    try:
        image = await sources.load(
            state.downloads, path=path, url=url, data=data, max_bytes=state.settings.max_image_bytes, guard=guard
        )
    except FramesError as e:
        raise ToolError(f"{e.describe()} Nothing was uploaded.") from None
    account = email or state.settings.email
    asset_name = sources.asset_name(name, image.name)
    try:
        asset = await state.client.upload_asset(image.data, image.mime, name=asset_name, email=account)
    except FramesError as e:
        raise ToolError(e.describe()) from None
    assert asset.assetId is not None
    out = UploadedAsset(
        assetId=asset.assetId,
        name=asset.name or asset_name,
        mimeType=image.mime,
        bytes=len(image.data),
        width=image.width,
        height=image.height,
        email=asset.email or account or asset_account(asset.assetId),
        url=asset.url,
    )
    holder = f" on account {out.email}" if out.email else ""
    text = (
        f"Uploaded {out.name} ({out.mimeType}, {out.width}x{out.height}, {out.bytes} bytes) as assetId "
        f"{out.assetId}{holder}.\nUse it in generate_frames as imageAssetId1 and cite it as @IMG_1 in text_prompt "
        "(e.g. '@IMG_1 as a watercolour portrait'); leave email out, the task runs on the asset's account. "
        "describe_image gives a starting prompt from it."
    )
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=out.model_dump(mode="json"))


async def describe_image(assetId: AssetId, ctx: Context[AppState]) -> Annotated[CallToolResult, ImageDescription]:
    """Describe an image (an assetId) as a starting text_prompt for generate_frames: subject, scene and
    style, to edit. No credits.
    """
    state = state_of(ctx)
    require_token(state)
    try:
        prompt = await state.client.describe(assetId)
    except FramesError as e:
        raise ToolError(e.describe()) from None
    out = ImageDescription(assetId=assetId, prompt=prompt)
    text = (
        f"Starting prompt for {assetId}:\n{prompt}\nEdit it into a text_prompt (subject, scene, lighting, camera, "
        "style); to keep the image itself as a reference, pass it as imageAssetId1 and cite @IMG_1."
    )
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=out.model_dump(mode="json"))
