# hotcold: the two commands a newcomer runs are `make demo` and `make test`.
# Every target installs what it needs first (Debian packages, the project venv, the test image).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
# Debian's python3, so the venv sees the same python3-systemd/yaml/jsonschema/pyinotify a host has.
SYSTEM_PYTHON := /usr/bin/python3
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Podman refuses container rlimits above the caller's own: hand molecule the real limits.
export HOTCOLD_NOFILE := $(shell ulimit -Hn)
export HOTCOLD_NPROC := 32768
# Reliability cases (issue 7) record what they tried and lost here; the report is rendered from it.
export HOTCOLD_RELIABILITY_DIR := $(CURDIR)/artifacts/reliability

.PHONY: help setup image image-arm64 web demo demo-clean lint unit monitoring browser \
	molecule molecule-fleet molecule-single-hosts test test-arm64 \
	reliability-reset soak soak-pytest soak-molecule bench bench-quick clean

help:
	@echo "make demo    provision a local container capture host and show files flowing RAM -> SD"
	@echo "make test    lint, unit + bounded reliability tests, the molecule scenarios (arm64 host in fleet; offline)"
	@echo "make test-arm64   the arm64 scenario: one emulated Raspberry Pi OS-like host, with idempotence (slow)"
	@echo "make soak    the long reliability run (~3 h on 2 cores, idle machine) -> docs/RELIABILITY.md"
	@echo "make bench   measure SD writes, archiver cost, lookup, cleanup, rollout -> bench/RESULTS.md"
	@echo "make demo-clean   remove the demo container"

setup: $(VENV)/.installed
	@scripts/setup-host.sh

# Recreated only when the pinned requirements change.
$(VENV)/.installed: requirements-dev.txt
	@scripts/setup-host.sh
	@test -x $(BIN)/python || $(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)
	@$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

image: setup
	@images/build-test-image.sh >/dev/null

# The same image for arm64 (molecule/arm64), run under qemu-user: about 8 minutes the first time, then cached.
image-arm64: setup
	@images/build-test-image.sh --arch arm64 >/dev/null

# The host page (web/dist, with hls.js from the npm registry): the stream_endpoints role ships it.
web: setup
	@web/build.sh >/dev/null

demo: image web
	@scripts/demo.sh

demo-clean:
	@podman rm -f -t 5 hotcold-demo >/dev/null 2>&1 || true

# Every shell script git tracks (by its #! line), so a new script is linted without being listed here.
SHELL_SCRIPTS = $(shell git ls-files | xargs grep -lE '^\#!/(usr/)?bin/(env )?(ba)?sh' 2>/dev/null | grep -v '\.j2$$')

lint: setup
	ruff check .
	shellcheck $(SHELL_SCRIPTS)
	@# The roles' shell templates, rendered with the demo inventory's variables, as hosts get them.
	rendered=$$(mktemp -d) && trap 'rm -rf "$$rendered"' EXIT && \
	  ansible-playbook -i localhost, tests/roles/render-shell-templates.yml -e out="$$rendered" >/dev/null && \
	  (cd "$$rendered" && echo "shellcheck, rendered:" * && shellcheck *)
	yamllint -s .
	ansible-lint --offline
	ansible-playbook site.yml --syntax-check

# Two workers (pytest-xdist): the suite mostly waits (sleeps, I/O, subprocesses, qemu), serial it keeps about
# 63 % of one core busy. loadgroup hands out one test at a time, except the tests of an xdist_group marker,
# which go to one worker together, the groups first (tests/roles/test_preflight.py, tests/powercut/vm).
unit: setup
	pytest -n 2 --dist loadgroup

# Prometheus alert rules (syntax, and their unit tests on synthetic series) and the Grafana dashboard, checked
# against the metrics a real `hotcold health` run exports (tests/monitoring).
monitoring: setup
	promtool check rules monitoring/prometheus/hotcold-alerts.yml
	cd monitoring/prometheus && promtool test rules hotcold-alerts.test.yml
	pytest tests/monitoring

# The page against a local fake host (real JPEGs and HLS from ffmpeg): quick, no containers.
browser: web
	tests/browser/check-fake.sh artifacts/browser-fake

# Every scenario but arm64: the fleet has its own arm64 host (fleet-arm); `make test-arm64` (below) adds an
# idempotence run on arm64. Two lanes side by side: fleet, and default then faults (their containers, names and
# inventories are apart).
# Most of a scenario's time is waiting (hosts' captures, the archiver's turns, the rollout gate's windows), so
# the two lanes share 2 cores well. --output-sync prints each lane's output whole when it ends.
molecule: image image-arm64 web
	$(MAKE) --no-print-directory -j2 --output-sync=target molecule-fleet molecule-single-hosts

molecule-fleet:
	molecule test -s fleet

molecule-single-hosts:
	molecule test -s default
	molecule test -s faults

# One arm64 host under qemu-user (molecule/arm64): check, converge, idempotence, check after converge, files
# archived. Not part of `make test` (the fleet scenario's fleet-arm is: check, converge, files archived).
test-arm64: image-arm64 web
	molecule test -s arm64

# The reliability report of this run (bounded figures) goes to artifacts/; `make soak` writes docs/.
test: reliability-reset lint unit monitoring browser molecule
	@scripts/reliability-report.py --out artifacts/RELIABILITY.md

reliability-reset:
	@rm -rf $(HOTCOLD_RELIABILITY_DIR)

# The long form of every reliability case (HOTCOLD_SOAK=1: 1,000 SIGKILLs, 2 min faults and bursts,
# more rounds), then the report. The two halves can run separately; the report reads what they recorded.
soak: reliability-reset soak-pytest soak-molecule
	scripts/reliability-report.py --out docs/RELIABILITY.md --readme README.md

soak-pytest: setup
	HOTCOLD_SOAK=1 pytest -m reliability

soak-molecule: image web
	HOTCOLD_SOAK=1 molecule test -s default
	HOTCOLD_SOAK=1 molecule test -s faults

# Benchmarks (not part of `make test`): root, Debian's python3; the rollout benchmark uses the venv's ansible.
bench: image web
	/usr/bin/python3 bench/run.py

bench-quick: image web
	/usr/bin/python3 bench/run.py --quick

clean: demo-clean
	rm -rf $(VENV) .pytest_cache
