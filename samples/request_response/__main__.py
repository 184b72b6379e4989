"""Run the request_response sample: ``python -m samples.request_response [--host H] [--port N]``."""

from __future__ import annotations

from samples.common import arguments, run
from samples.request_response.server import make_app

args = arguments("The server asks every client and gathers the answers, with timeouts.").parse_args()
run(make_app(), args.host, args.port, what="request_response sample")
