# as2sync — two commands to start: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint demo bench soak docker-test clean

install: $(STAMP)

# Re-install only when the dependency list changes; the package itself is editable.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/pytest -q -p no:cacheprovider --durations=20 -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check as2sync tests benchmarks
	$(BIN)/ruff format --check as2sync tests benchmarks
	$(BIN)/mypy

demo: install
	$(BIN)/as2sync demo

bench: install
	$(BIN)/python -m benchmarks.run

MINUTES ?= 30
soak: install
	$(BIN)/python -m tests.soak.run --minutes $(MINUTES)

docker-test: install
	bash deploy/docker/test.sh

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache demo
