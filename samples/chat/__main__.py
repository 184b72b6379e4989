"""Run the chat demo: ``python -m samples.chat [--host H] [--port N]`` (``make demo`` runs it on 8080)."""

from __future__ import annotations

import os

from samples.chat.app import about_metrics, admin_token, make_app
from samples.common import arguments, run

args = arguments("The aioneffos chat demo: rooms, history, a browser page.").parse_args()
token, about_admin = admin_token(args.host, args.port, os.environ)
print(about_admin, flush=True)
print(about_metrics(args.host, args.port), flush=True)
run(make_app(admin_token=token), args.host, args.port, what="aioneffos chat")
