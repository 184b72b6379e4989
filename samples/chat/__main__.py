"""Run the chat demo: ``python -m samples.chat [--host H] [--port N]`` (``make demo`` runs it on 8080)."""

from __future__ import annotations

from samples.chat.app import make_app
from samples.common import arguments, run

args = arguments("The aioneffos chat demo: rooms, history, a browser page.").parse_args()
run(make_app(), args.host, args.port, what="aioneffos chat")
