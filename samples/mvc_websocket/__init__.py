"""The seed's "Websocket Controller" in six steps: an MVC websocket controller with an injected logger."""
