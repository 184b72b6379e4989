"""Request/response: the server asks every connected client and gathers the answers, with timeouts."""
