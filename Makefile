# The README's two commands are `make demo` and `make test`; both set everything up first and are
# safe to run again. torch is pinned to the CPU build that these machines carry on local disk: an
# unpinned torch would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
PRESET ?= quick
APT := $(shell command -v apt-get 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test test-fast lint format bench data browser clean

setup: $(VENV)/.installed data

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# Fashion-MNIST from Debian's package, where apt exists; rlgen also finds it under --data-dir,
# $$RLGEN_DATA or ~/.cache/rlgen.
data:
	@if [ -n "$(APT)" ] && ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist) \
		|| echo "note: could not install dataset-fashion-mnist; the parts that need it will say so"; \
	fi

# Debian's chromium (driven through chromedriver) renders report.html in the browser test.
browser:
	@if [ -n "$(APT)" ] && ! command -v chromedriver >/dev/null 2>&1; then \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver) \
		|| echo "note: could not install chromium; the browser test will be skipped"; \
	fi

demo: setup
	$(BIN)/rlgen reproduce --preset $(PRESET)

test: setup browser $(VENV)/.ray $(VENV)/.box2d
	$(BIN)/python -m pytest -q

# The `ray` extra, so that the Ray executor tests run (under CI=true they fail without it).
$(VENV)/.ray: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[dev,ray]'
	touch $@

# The `box2d` extra (binary wheels from PyPI, no swig), so that the LunarLander tests run (under
# CI=true they fail without it).
$(VENV)/.box2d: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[dev,box2d]'
	touch $@

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/bandit_speed.py
	$(BIN)/python benchmarks/mdp_speed.py
	$(BIN)/python -m pip install -q -e ".[bench]" && $(BIN)/python benchmarks/cartpole.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
