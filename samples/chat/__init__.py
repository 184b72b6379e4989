"""The chat demo: rooms, a browser page and a Python client, on a controller with injected dependencies."""
