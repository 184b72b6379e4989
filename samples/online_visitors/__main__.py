"""Run the online_visitors sample: ``python -m samples.online_visitors [--host H] [--port N]``."""

from __future__ import annotations

from samples.common import arguments, run
from samples.online_visitors.server import make_app

args = arguments("A live count of the viewers of each page.").parse_args()
run(make_app(), args.host, args.port, what="online_visitors sample")
