"""Run the basic sample: ``python -m samples.basic [--host H] [--port N] [--notify-every S]``."""

from __future__ import annotations

from samples.basic.server import make_app
from samples.common import arguments, run

parser = arguments("The neffos README example: workday ask/reply, error replies, a notify broadcast.")
parser.add_argument(
    "--notify-every", type=float, default=60.0, help="seconds between notify broadcasts (default: 60)"
)
args = parser.parse_args()
run(make_app(notify_every=args.notify_every), args.host, args.port, what="basic sample")
