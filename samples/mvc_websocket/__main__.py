"""Run the MVC websocket sample: ``python -m samples.mvc_websocket [--host H] [--port N]``."""

from __future__ import annotations

from samples.common import arguments, run
from samples.mvc_websocket.app import make_app

args = arguments("The seed's websocket controller: an injected logger and a chat namespace.").parse_args()
run(make_app(), args.host, args.port, what="mvc_websocket sample")
