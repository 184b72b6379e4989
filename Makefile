# The two commands of the README: `make demo` and `make test`. Both set up what they need.
.PHONY: demo test lint

PORT ?= 8080

# A taken port: the sample's error says to try PORT=<another> make demo, not --port.
demo: export SAMPLES_PORT_HINT = PORT={port} make demo
demo:
	@./.ci/setup demo
	.venv/bin/python -m samples.chat --port $(PORT)

test:
	@./.ci/setup test
	.venv/bin/python -m pytest
	$(MAKE) --no-print-directory lint

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports
