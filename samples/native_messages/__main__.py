"""Run the native_messages sample: ``python -m samples.native_messages [--host H] [--port N]``."""

from __future__ import annotations

from samples.common import arguments, run
from samples.native_messages.server import make_app

args = arguments("Plain WebSocket clients talking native messages through aioneffos.").parse_args()
run(make_app(), args.host, args.port, what="native_messages sample")
