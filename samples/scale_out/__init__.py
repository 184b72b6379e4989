"""Scale-out chat: run several nodes on one Redis or NATS; chat, rooms, whispers and pokes cross nodes.

``python -m samples.scale_out --port 8081 --exchange redis://127.0.0.1:6379`` (see README.md).
"""

from pathlib import Path

PAGE = Path(__file__).resolve().with_name("index.html")
