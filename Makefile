# Velocimex: `make demo` installs everything and runs the main job; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VX := $(VENV)/bin/velocimex
OUT := out
STAMP := $(VENV)/.installed

.PHONY: install demo test bench soak synth lint format clean system-deps ui

# Debian packages the tests use (tshark for the MoldUDP64 dissector, nft/ip for the
# network-namespace fault tests, chromium for the web UI's browser tests, npm to build the
# UI). Installed only when missing and only as root.
system-deps:
	@if ! command -v tshark >/dev/null || ! command -v nft >/dev/null \
	    || [ ! -x /usr/bin/chromium ] || ! command -v npm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q tshark nftables iproute2 chromium && \
	    { command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }; \
	  else echo "system-deps: not root, skipping apt-get (tests needing tshark/nft/chromium will skip)"; fi; \
	fi

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The web UI (ui/, docs/ui.md): npm ci from package-lock.json when the lock changes, a Vite
# build into ui/dist when any source changes; `velocimex serve` serves ui/dist.
UI_SOURCES := $(shell find ui/src -type f 2>/dev/null) ui/index.html ui/package.json \
	ui/vite.config.ts ui/tsconfig.json ui/tailwind.config.js ui/postcss.config.js
UI_DEPS := ui/node_modules/.package-lock.json
UI_BUILD := ui/dist/index.html

# Without npm (not root, so system-deps could not add it) the UI is left unbuilt: serve then
# explains how to build it and the browser tests fail saying so; everything else installs.
$(UI_DEPS): ui/package-lock.json
	@if command -v npm >/dev/null; then cd ui && npm ci --no-audit --no-fund; \
	else echo "ui: npm not found, web UI not built (as root, make system-deps installs it)"; fi

$(UI_BUILD): $(UI_DEPS) $(UI_SOURCES)
	@if command -v npm >/dev/null; then cd ui && npm run build; fi

ui: $(UI_BUILD)

install: system-deps $(STAMP) ui

demo: install
	mkdir -p $(OUT)
	$(VX) generate --symbols 8 --messages 1000000 --seed 1 --out $(OUT)/demo.pcap
	$(VX) replay $(OUT)/demo.pcap --engine sw --out $(OUT)/demo_bbo.csv
	head -5 $(OUT)/demo_bbo.csv

test: install
	$(PY) -m pytest -q -p no:cacheprovider

bench: install
	mkdir -p results
	$(PY) -m velocimex.bench_suite --out results

# Long run: a 3M-message session through both engines, byte-identical CSVs required.
soak: install
	mkdir -p $(OUT)
	$(VX) generate --symbols 32 --messages 3000000 --seed 7 --out $(OUT)/soak.pcap
	$(VX) replay $(OUT)/soak.pcap --engine sw --out $(OUT)/soak_sw.csv
	$(VX) replay $(OUT)/soak.pcap --engine hw --out $(OUT)/soak_hw.csv
	cmp $(OUT)/soak_sw.csv $(OUT)/soak_hw.csv && echo "soak: sw and hw identical"

synth: install
	$(PY) -m velocimex.synth --out results

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(OUT) results hw/sim/*/sim_build
