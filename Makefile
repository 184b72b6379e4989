# The two commands of the README: `make demo` and `make test`. Both set up what they need.
.PHONY: demo test lint docs bench-check

PORT ?= 8080
DOCS_PORT ?= 8000

# A taken port: the sample's error says to try PORT=<another> make demo, not --port.
demo: export SAMPLES_PORT_HINT = PORT={port} make demo
demo:
	@./.ci/setup demo
	.venv/bin/python -m samples.chat --port $(PORT)

test:
	@./.ci/setup test
	.venv/bin/python -m pytest
	$(MAKE) --no-print-directory lint

# The documentation site on http://127.0.0.1:$(DOCS_PORT)/, rebuilt on every change.
# `make test` builds it with --strict (tests/docs/test_site.py).
docs:
	@./.ci/setup demo
	NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

# Not part of `make test` (which stays timing-free): server instructions per round trip,
# counted by callgrind, against bench/budgets.json; fails past +3 %. Needs valgrind.
bench-check:
	@./.ci/setup test
	.venv/bin/python -m bench.instructions --check
