"""Command line: arguments, logging, transport choice and --demo wiring; nothing else."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from frames_mcp import __version__
from frames_mcp.config import Settings
from frames_mcp.useapi.errors import ConfigurationError

log = logging.getLogger("frames_mcp")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="frames-mcp",
        description="MCP server for Runway Frames image generation through useapi.net. Reads USEAPI_TOKEN, "
        "USEAPI_BASE_URL, USEAPI_EMAIL, FRAMES_MCP_WAIT_SECONDS, FRAMES_MCP_OUTPUT_DIR, FRAMES_MCP_PREVIEW, "
        "FRAMES_MCP_ALLOW_PRIVATE_URLS, FRAMES_MCP_MAX_IMAGE_MB and FRAMES_MCP_IMAGE_ORIGINS from the environment; "
        "in HTTP mode also FRAMES_MCP_AUTH_TOKEN, FRAMES_MCP_ALLOWED_HOSTS and FRAMES_MCP_ALLOWED_ORIGINS.",
    )
    p.add_argument("--version", action="version", version=f"frames-mcp {__version__}")
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="default: stdio")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="HTTP bind address (default 127.0.0.1); any non-loopback address needs FRAMES_MCP_AUTH_TOKEN "
        "and FRAMES_MCP_ALLOWED_HOSTS",
    )
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    p.add_argument(
        "--stateless",
        action="store_true",
        help="HTTP without sessions, for several replicas behind a load balancer (see the README's trade-offs)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="run against a built-in simulator of useapi.net: no token, no credits, placeholder images",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _configure_logging(level: str) -> None:
    # stderr only: in stdio mode stdout carries the protocol and nothing else.
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx2", "httpcore", "httpcore2", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _refuse(e: ConfigurationError) -> NoReturn:
    print(f"frames-mcp: {e.describe()}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    _configure_logging(args.log_level)
    try:
        settings = Settings.from_env(demo=args.demo)
    except ConfigurationError as e:
        _refuse(e)
    if settings.token is None and not settings.demo:
        log.warning("USEAPI_TOKEN is not set: tools will explain how to set it (or run with --demo)")

    from frames_mcp.server.app import build_server  # after logging is set, so the SDK keeps our handler

    server = build_server(settings)
    if args.transport == "stdio":
        server.run("stdio")
        return

    from frames_mcp.server import http as http_app

    try:
        app = http_app.build_app(server, settings, host=args.host, stateless=args.stateless)
    except ConfigurationError as e:
        _refuse(e)
    http_app.serve(app, host=args.host, port=args.port)
