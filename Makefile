# findface-extraction-api -- the two commands a new machine needs:
#   make run    build the venv and the model bundle as needed, then serve on 127.0.0.1:18666
#   make test   the same set-up, then the test suite
PYTHON ?= python3
VENV := .venv
BUNDLE := build/models
CACHE := build/cache
CONFIG ?= etc/findface-extraction-api.ini
# make run LISTEN=127.0.0.1:18700 when 18666 is taken (overrides listen from CONFIG)
LISTEN ?=
REQUIREMENTS := requirements.txt requirements-test.txt models-data/requirements.txt

.PHONY: run test unit lint models venv bench bench-quick eval eval-quick clean test-browser test-robustness test-scale

run: models
	$(VENV)/bin/findface-extraction-api --config $(CONFIG) --models-root $(BUNDLE) $(if $(LISTEN),--listen $(LISTEN))

test: models
	$(VENV)/bin/python -m pytest tests

# In-process tests only (no daemon, no model bundle): seconds, for the edit-test loop.
unit: $(VENV)/.installed
	$(VENV)/bin/python -m pytest tests -m unit -q

# ruff (lint + format check), mypy on the package, and the import-layer contract (pyproject.toml).
$(VENV)/.lint-installed: $(VENV)/.installed requirements-lint.txt
	$(VENV)/bin/python -m pip install --quiet -r requirements-lint.txt
	touch $@

lint: $(VENV)/.lint-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

models: $(VENV)/.installed
	$(VENV)/bin/python models-data/build.py --out $(BUNDLE) --cache $(CACHE)

venv: $(VENV)/.installed

# Debian ships venv support in a separate package; install it when missing (as root or via sudo).
$(VENV)/.installed: $(REQUIREMENTS) setup.cfg
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  echo "installing python3-venv (needed to build $(VENV))"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y python3-venv || exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet $(addprefix -r ,$(REQUIREMENTS))
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

# Throughput/latency/memory ratios in one run (bench/run.py): this checkout against BEFORE (a git
# ref, checked out in build/bench-before, or a checkout directory; BEFORE= to skip) and against
# face_recognition (its own venv in build/bench-peer-venv). Results: build/bench.json and
# docs/performance.md; bench-quick: one short round, build/bench.json only.
BEFORE ?= main
bench: models
	nice $(VENV)/bin/python bench/run.py $(if $(BEFORE),--before $(BEFORE))

bench-quick: models
	nice $(VENV)/bin/python bench/run.py --quick $(if $(BEFORE),--before $(BEFORE))

# Accuracy on the research-only benchmarks in ../shared/eval-data, through the HTTP API
# (eval/run.py): report in docs/accuracy/. eval-quick: the CI subset, report in build/eval-quick/.
$(VENV)/.eval-installed: $(VENV)/.installed requirements-eval.txt
	$(VENV)/bin/python -m pip install --quiet -r requirements-eval.txt
	touch $@

eval: models $(VENV)/.eval-installed
	$(VENV)/bin/python eval/run.py

eval-quick: models $(VENV)/.eval-installed
	$(VENV)/bin/python eval/run.py --quick

clean:
	rm -rf $(VENV) build dist *.egg-info

# --- Debian packages and their install test (docs/install.md) ---
# make deb       dist/findface-extraction-api_*.deb + dist/findface-data_*.deb, lintian-checked;
#                installs its build dependencies when missing (root or sudo)
# make test-deb  installs both packages in a booted Debian 12 container (debootstrap +
#                systemd-nspawn) and runs the service end to end; skips with a reason when
#                the machine cannot (not root, no network, no nspawn)
.PHONY: deb test-deb

deb: models
	packaging/build-deb.sh

test-deb:
	packaging/test-deb.sh

# The demo page in a real headless browser: installs Debian's chromium and chromium-driver and
# selenium into the venv when missing; screenshot in build/demo-screenshot.png.
test-browser: models
	packaging/install-browser.sh
	$(VENV)/bin/python -m pytest tests/test_browser.py -m browser -q

# The hostile-input battery: >= 2,000 generated cases over both protocols, plus a 64-client mixed
# load, slow clients and an upload burst (figures in build/robustness.json). Not yet in .ci/run:
# it still reports open defects (raw-HTTP 400s without JSON, a few specific cases).
test-robustness: models
	FFEA_ROBUSTNESS=full $(VENV)/bin/python -m pytest tests/test_robustness.py -q
