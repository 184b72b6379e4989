"""Run one scale-out chat node: ``python -m samples.scale_out --port N --exchange URL``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from samples.common import cannot_listen, fast_loop

from .app import exchange_from_url, make_app, make_server

logger = logging.getLogger("samples.scale_out")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the node's options."""
    parser = argparse.ArgumentParser(prog="python -m samples.scale_out", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: %(default)s)")
    parser.add_argument(
        "--exchange",
        default="",
        help="redis://host:port[/db] or nats://host:port; empty runs a single node (default)",
    )
    parser.add_argument("--prefix", default="aioneffos", help="channel prefix on the broker")
    parser.add_argument(
        "--reconnect-max", type=float, default=5.0, help="longest wait between broker reconnects (s)"
    )
    parser.add_argument("--beat", type=float, default=1.0, help="presence interval between nodes (s)")
    parser.add_argument(
        "--beat-misses", type=int, default=3, help="beats a node may miss before it is forgotten"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Serve until SIGINT or SIGTERM, then close every connection with 1001."""
    options = {
        "prefix": args.prefix,
        "reconnect_max": args.reconnect_max,
        "beat_interval": args.beat,
        "beat_misses": args.beat_misses,
    }
    try:
        exchange = exchange_from_url(args.exchange, **options)
    except ValueError as exc:  # an unknown scheme, or a URL the broker's client cannot read
        raise SystemExit(str(exc)) from None
    server = make_server(exchange)
    runner = web.AppRunner(make_app(server), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    try:
        await site.start()
    except OSError as exc:  # most often: the port is taken
        await runner.cleanup()
        raise SystemExit(cannot_listen(args.host, args.port, exc)) from None
    logger.info(
        "node %s listening on http://%s:%d/ (websocket /ws, exchange %s)",
        server.node_id,
        args.host,
        args.port,
        args.exchange or "local",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        logger.info("node %s stopped", server.node_id)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the options and run the node."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr
    )
    loop = fast_loop()
    with asyncio.Runner(loop_factory=None if loop is None else lambda: loop) as runner:
        runner.run(serve(args))


if __name__ == "__main__":
    main()
