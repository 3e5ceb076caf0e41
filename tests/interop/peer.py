"""An interop peer for frames-mcp's MCP tasks, run in this folder's environment (fastmcp + fastmcp-tasks):

    peer.py client http URL TOKEN stdio COMMAND...
                    fastmcp's Client (fastmcp-tasks loaded) drives frames-mcp over streamable HTTP, then over
                    stdio (one process for both: importing fastmcp's client costs about 2 s of CPU)
    peer.py server  a fastmcp server whose `slow_sum` tool runs as a task, on stdio

The client prints one JSON object with what it saw over each transport; the tests assert on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from typing import Any

import fastmcp_tasks  # noqa: F401  (importing it registers the tasks client extension on every Client)
from fastmcp import Client, FastMCP
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from fastmcp.utilities.tasks import TaskConfig
from fastmcp_tasks import TasksExtension
from fastmcp_tasks.client import call_tool_task

CAT = {"text_prompt": "a cat on a windowsill", "num_images": 1}


async def drive(transport: Any) -> dict[str, Any]:
    async with Client(transport) as client:
        transparent = await client.call_tool("generate_frames", CAT)
        task = await call_tool_task(client, "generate_frames", CAT)
        first = await task.status()
        final = await task.wait()
        return {
            "transparent": transparent.structured_content,
            "handle": task.create_result.model_dump(by_alias=True, mode="json"),
            "first_status": first.status,
            "final_status": final.status,
            "final_result": final.result,
        }


def serve() -> None:
    mcp = FastMCP("peer")
    mcp.add_extension(TasksExtension(url="memory://"))

    # A poll interval of 0.2 s, not fastmcp's 5 s: the client must honour whatever the server asks for, and the
    # test need not wait 5 s for each of its two tasks.
    @mcp.tool(task=TaskConfig(mode="optional", poll_interval=timedelta(seconds=0.2)))
    async def slow_sum(a: int, b: int) -> int:
        await asyncio.sleep(0.5)
        return a + b

    mcp.run("stdio", show_banner=False)


def main(argv: list[str]) -> None:
    if argv[0] == "server":
        serve()
        return
    assert argv[1] == "http" and argv[4] == "stdio", "usage: peer.py client http URL TOKEN stdio COMMAND..."
    over_http = StreamableHttpTransport(argv[2], headers={"Authorization": f"Bearer {argv[3]}"})
    over_stdio = StdioTransport(command=argv[5], args=argv[6:], env=dict(os.environ))
    print(json.dumps({"http": asyncio.run(drive(over_http)), "stdio": asyncio.run(drive(over_stdio))}))


if __name__ == "__main__":
    main(sys.argv[1:])
