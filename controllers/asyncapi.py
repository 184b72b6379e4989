"""AsyncAPI 3.0 documents generated from a server's handlers: `asyncapi`, a route, and a CLI.

One channel per namespace (the room is the channel's parameter); a ``receive`` operation
per event a peer may send, with a reply when the handler's return type is described; a
``send`` operation per event declared with `emits`; the namespace and room requests
(``_OnNamespaceConnect``, ...) as operations too; payload schemas (JSON Schema, by
msgspec) for typed bodies and replies. The neffos frame fields are the messages' headers.

Print one from the command line (``module:attr`` names a `Server`, an aiohttp application
given to ``setup`` or `add_asyncapi_route`, or a function returning one)::

    python -m aioneffos.controllers.asyncapi samples.chat.app:make_app --format yaml
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web

from aioneffos.framework import ON_NATIVE_MESSAGE, SERVER_KEY, ConnHandler, Handler, Server

from .asyncapi_writer import ASYNCAPI_VERSION, NATIVE, WIRE, DocumentWriter
from .contract import Emit, gather
from .errors import ContractError
from .yaml_writer import to_yaml


def asyncapi(
    target: Server | ConnHandler | Mapping[str, Mapping[str, Handler]],
    *,
    title: str = "aioneffos server",
    version: str = "1.0.0",
    description: str = "",
    host: str | None = None,
    pathname: str = "/",
    protocol: str = "ws",
    emits: Mapping[str, Iterable[Emit]] | None = None,
) -> dict[str, Any]:
    """Give the AsyncAPI 3.0 document of *target* (a `Server`, or what one is built from).

    *host* (``"example.com:8080"``) with *pathname* and *protocol* (``ws``/``wss``) adds
    the server entry; *emits* declares, by namespace, events the server sends that no
    handler declares with `emits`. Raise `ContractError` for a body or reply type that
    cannot be described in JSON Schema, `KeyError` for *emits* of an unknown namespace.
    """
    if isinstance(target, Server):
        handlers: Mapping[str, Mapping[str, Handler]] = target.handlers
    elif isinstance(target, ConnHandler):
        handlers = target.get_namespaces()
    else:
        handlers = target
    namespaces = gather(handlers, emits)
    native_only = list(handlers) == [""] and list(handlers[""]) == [ON_NATIVE_MESSAGE]
    writer = DocumentWriter(native_only)
    for namespace in namespaces:
        writer.namespace(namespace)
    info: dict[str, Any] = {"title": title, "version": version}
    info["description"] = "\n\n".join(part for part in (description, NATIVE if native_only else WIRE) if part)
    document: dict[str, Any] = {"asyncapi": ASYNCAPI_VERSION, "info": info}
    if host is not None:
        server = {
            "host": host,
            "protocol": protocol,
            "pathname": pathname,
            "description": "The websocket endpoint (HTTP GET, upgraded).",
        }
        document["servers"] = {"default": server}
    document["channels"] = writer.channels
    document["operations"] = writer.operations
    document["components"] = writer.components()
    return document


def asyncapi_yaml(document: Mapping[str, Any]) -> str:
    """Write an AsyncAPI *document* as YAML."""
    return to_yaml(dict(document))


# -- serving it ------------------------------------------------------------------

ASYNCAPI_KEY: web.AppKey[dict[str, Any]] = web.AppKey("aioneffos.asyncapi")
"""Where `add_asyncapi_route` keeps the document's server and options (read by the CLI)."""


def add_asyncapi_route(
    app: web.Application, server: Server, path: str = "/asyncapi.json", **options: Any
) -> web.AbstractRoute:
    """Serve *server*'s AsyncAPI document at *path* of *app* (YAML when it ends in ``.yaml``).

    *options* are `asyncapi`'s; without ``host`` the document names the host the request
    came to (``ws``, or ``wss`` behind TLS) when a ``pathname`` is given. The document is
    built once, at the first request.
    """
    app[ASYNCAPI_KEY] = {"server": server, **options}
    as_yaml = path.endswith((".yaml", ".yml"))
    cache: dict[tuple[str, str], str] = {}

    async def serve(request: web.Request) -> web.Response:
        settings = dict(options)
        if "host" not in settings and "pathname" in settings:
            settings["host"] = request.host
            settings["protocol"] = "wss" if request.secure else "ws"
        cache_key = (str(settings.get("host")), str(settings.get("protocol")))
        text = cache.get(cache_key)
        if text is None:
            document = asyncapi(server, **settings)
            text = asyncapi_yaml(document) if as_yaml else json.dumps(document, indent=2)
            cache[cache_key] = text
        content_type = "application/yaml" if as_yaml else "application/json"
        return web.Response(text=text, content_type=content_type)

    return app.router.add_get(path, serve)


# -- the command line ------------------------------------------------------------


def load(spec: str) -> dict[str, Any]:
    """Give the document of ``module:attr`` (see the module's docstring); raise `LookupError`."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise LookupError(f"expected module:attr, got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    if callable(target) and not isinstance(target, Server | ConnHandler | web.Application):
        target = target()
    if isinstance(target, web.Application):
        if ASYNCAPI_KEY in target:
            stored = target[ASYNCAPI_KEY]
            settings = dict(stored)
            return asyncapi(settings.pop("server"), **settings)
        if SERVER_KEY in target:
            return asyncapi(target[SERVER_KEY])
        raise LookupError(f"{spec}: this aiohttp application has no server (see aioneffos.framework.setup)")
    if isinstance(target, Server | ConnHandler):
        return asyncapi(target)
    raise LookupError(f"{spec}: expected a Server, an aiohttp application or a function giving one")


def main(argv: Sequence[str] | None = None) -> int:
    """Print the AsyncAPI document of ``module:attr``; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m aioneffos.controllers.asyncapi",
        description="Print the AsyncAPI 3.0 document of an aioneffos server.",
    )
    parser.add_argument(
        "target", help="module:attr naming a Server, an aiohttp app, or a function giving one"
    )
    parser.add_argument("--format", choices=("json", "yaml"), default="json")
    args = parser.parse_args(argv)
    try:
        document = load(args.target)
    except (ImportError, AttributeError, LookupError, ContractError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(
        asyncapi_yaml(document) if args.format == "yaml" else json.dumps(document, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    # Run the imported module's main: an app made by the target refers to that module's
    # ASYNCAPI_KEY, not to the copy ``python -m`` runs as __main__.
    from aioneffos.controllers.asyncapi import main as imported_main

    sys.exit(imported_main())
