# Shortcuts for the two commands of README.md.
.PHONY: run test lint

run:
	bash dev.sh run

test:
	bash dev.sh test

lint:
	.venv/bin/ruff check .
