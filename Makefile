# Two commands (see README): `make run` and `make test`. Everything else is a helper target.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# System packages the test suite needs: PostgreSQL (the same code runs on it as on SQLite),
# flite and espeak-ng, which speak the test audio, chromium for the browser tests, and Redis and
# HAProxy for the loopback cluster (tests/cluster, deploy/local-cluster).
SYSTEM_PACKAGES := postgresql flite espeak-ng chromium redis-server haproxy
PYTEST_ARGS ?=

.PHONY: run demo test install install-dev bench-deps system-deps lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned: a looser pin pulls a multi-GB CUDA build.
install: $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .

# insightface's wheel only for its sample photos (tests, bench/face_match.py): without its
# dependencies, which would pull a second OpenCV build.
install-dev: install
	$(BIN)/pip install --quiet -e '.[dev,pipecat]'
	$(BIN)/pip install --quiet --no-deps 'insightface==2.1'

# Benchmark extras; invisible-watermark (the comparison in bench/watermark.py) without its
# dependencies, which would pull a second OpenCV build.
bench-deps: install-dev
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/pip install --quiet --no-deps invisible-watermark==0.2.0

run: install
	$(BIN)/lpm-guard db upgrade
	$(BIN)/lpm-guard serve

# A sandbox on ./data (fresh or served): two sandbox accounts, a drawn character, a signed clip,
# verified; prints what to open next. Never a real person.
demo: install
	$(BIN)/lpm-guard demo

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: install-dev
	$(BIN)/ruff check .

# mypy cannot follow pyproject's package-dir mapping, so it checks a tree of links that
# puts the stage folders where the installed package has them.
TYPECHECK := build/typecheck
typecheck: install-dev
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/lpm_guard
	for f in lpm_guard/*; do ln -s "$$PWD/$$f" $(TYPECHECK)/lpm_guard/; done
	for d in audit generator policy web; do ln -s "$$PWD/$$d" $(TYPECHECK)/lpm_guard/$$d; done
	cd $(TYPECHECK) && MYPYPATH= $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml

test: system-deps install-dev lint typecheck
	$(BIN)/pytest -n 2 --dist loadgroup --cov --cov-report=term --cov-fail-under=85 $(PYTEST_ARGS)

bench: install-dev
	$(BIN)/python bench/audit.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .coverage
