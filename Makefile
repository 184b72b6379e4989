# The two commands of the README: `make demo` and `make test`. Both set up what they need.
.PHONY: demo test lint

PORT ?= 8080

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
