"""Command line: arguments, logging, transport choice and --demo wiring; the terminal commands doctor and
generate run from terminal.py."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from frames_mcp import __version__
from frames_mcp.config import Settings
from frames_mcp.useapi.errors import ConfigurationError

if TYPE_CHECKING:
    from frames_mcp.store import Store, StoreError

log = logging.getLogger("frames_mcp")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="frames-mcp",
        description="MCP server for Runway Frames image generation through useapi.net. Reads USEAPI_TOKEN, "
        "USEAPI_BASE_URL, USEAPI_EMAIL, FRAMES_MCP_WAIT_SECONDS, FRAMES_MCP_OUTPUT_DIR, FRAMES_MCP_PREVIEW, "
        "FRAMES_MCP_ALLOW_PRIVATE_URLS, FRAMES_MCP_MAX_IMAGE_MB, FRAMES_MCP_IMAGE_ORIGINS and FRAMES_MCP_STORE from "
        "the environment; "
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
    p.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    _commands(p.add_subparsers(dest="command", metavar="{doctor,generate}", help="for people at a terminal"))
    return p


def _commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from frames_mcp.useapi.models import ASPECT_RATIOS, STYLES

    demo = {"action": "store_true", "default": argparse.SUPPRESS, "help": "against the built-in simulator"}
    doctor = sub.add_parser(
        "doctor", help="check configuration, token, accounts, reachability, credits and the output directory"
    )
    doctor.add_argument("--demo", **demo)  # type: ignore[arg-type]
    gen = sub.add_parser("generate", help="one generation from a terminal: progress bar, images saved, URLs printed")
    gen.add_argument("prompt", help="the text_prompt (at most 1000 characters)")
    gen.add_argument("--style", choices=STYLES, help="a style preset (see list_styles)")
    gen.add_argument("--aspect-ratio", choices=ASPECT_RATIOS, default="16:9", help="default 16:9")
    gen.add_argument("--num-images", type=int, choices=[1, 4], default=4, help="default 4")
    gen.add_argument("--seed", type=int, help="reuse a seed to vary one image")
    gen.add_argument("--out", metavar="DIR", help="where to save the images (default: FRAMES_MCP_OUTPUT_DIR, else .)")
    gen.add_argument("--demo", **demo)  # type: ignore[arg-type]


def _configure_logging(level: str) -> None:
    # stderr only: in stdio mode stdout carries the protocol and nothing else.
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx2", "httpcore", "httpcore2", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    import anyio
    from pydantic import ValidationError

    from frames_mcp import terminal
    from frames_mcp.useapi.models import FramesRequest

    if args.command == "doctor":
        return anyio.run(terminal.doctor, settings)
    fields = {"text_prompt": args.prompt, "aspect_ratio": args.aspect_ratio, "num_images": args.num_images}
    fields |= {k: v for k, v in (("style", args.style), ("seed", args.seed)) if v is not None}
    try:
        request = FramesRequest.model_validate(fields)
    except ValidationError as e:
        problems = "; ".join(f"{err['loc'][0]}: {err['msg']}" for err in e.errors())
        print(f"frames-mcp generate: {problems}", file=sys.stderr)
        return 2
    out = Path(args.out).expanduser() if args.out else settings.output_dir or Path.cwd()
    return anyio.run(terminal.generate, settings, request, out.resolve())


def _refuse(e: ConfigurationError, *, at_once: bool = False) -> NoReturn:
    """The configuration error on stderr, then exit 2: through SystemExit, or `at_once` (os._exit) from a running
    stdio server, whose thread reading stdin cannot be stopped."""
    print(f"frames-mcp: {e.describe()}", file=sys.stderr, flush=True)
    if at_once:
        os._exit(2)
    raise SystemExit(2)


def _unopened(e: StoreError) -> ConfigurationError:
    return ConfigurationError(f"FRAMES_MCP_STORE: {e.message}")


def _opened_store(settings: Settings) -> Store:
    """An HTTP server's store, opened before it serves: a replica answers nothing (not even /healthz) before
    its store is open, and one that cannot be opened ends the start."""
    from frames_mcp.store import StoreError, open_store

    try:
        store = open_store(settings.store_url)
    except StoreError as e:
        _refuse(_unopened(e))
    log.info("task records: %s", store.describe())
    return store


def _stdio_store(settings: Settings) -> Store:
    """A stdio server's store, opened beside the handshake (neither initialize nor tools/list needs it; the first
    call that does waits for it). One that cannot be opened ends the process as at start: exit 2, the setting
    named, at once (a thread blocked reading stdin cannot be cancelled, and no waiting call may go on to create)."""
    from frames_mcp.store.opening import OpeningStore

    def opened(store: Store) -> None:
        log.info("task records: %s", store.describe())
        gc.freeze()  # what the opening loaded (redis-py, sqlite3) stays too: see main

    def failed(e: StoreError) -> None:
        _refuse(_unopened(e), at_once=True)

    return OpeningStore(settings.store_url, on_open=opened, on_failure=failed)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    # A terminal command shows a progress bar and its answer: only warnings and errors get logged beside them.
    _configure_logging(args.log_level or ("WARNING" if args.command else "INFO"))
    try:
        settings = Settings.from_env(demo=args.demo)
    except ConfigurationError as e:
        _refuse(e)
    if args.command:
        raise SystemExit(_run_command(args, settings))
    if settings.token is None and not settings.demo:
        log.warning("USEAPI_TOKEN is not set: tools will explain how to set it (or run with --demo)")

    store = _stdio_store(settings) if args.transport == "stdio" else _opened_store(settings)

    from frames_mcp.server.app import build_server  # after logging is set, so the SDK keeps our handler

    server = build_server(settings, store=store)
    # What is loaded by now (the SDK, pydantic, the tools) lives as long as the process: left out of every
    # collection, including the one at exit, which on all of it made a stdio server take 0.6 s to go away.
    gc.freeze()
    if args.transport == "stdio":
        server.run("stdio")
        return

    from frames_mcp.server import http as http_app

    try:
        app = http_app.build_app(server, settings, host=args.host, stateless=args.stateless)
    except ConfigurationError as e:
        _refuse(e)
    http_app.serve(app, host=args.host, port=args.port)
