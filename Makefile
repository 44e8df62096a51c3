# findface-extraction-api -- the two commands a new machine needs:
#   make run    build the venv and the model bundle as needed, then serve on 127.0.0.1:18666
#   make test   the same set-up, then the test suite
PYTHON ?= python3
VENV := .venv
BUNDLE := build/models
CACHE := build/cache
CONFIG := etc/findface-extraction-api.ini
REQUIREMENTS := requirements.txt requirements-test.txt models-data/requirements.txt

.PHONY: run test models venv bench eval clean

run: models
	$(VENV)/bin/findface-extraction-api --config $(CONFIG) --models-root $(BUNDLE)

test: models
	$(VENV)/bin/python -m pytest tests

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

bench: models
	$(VENV)/bin/python bench/run.py

eval: models
	$(VENV)/bin/python eval/run.py

clean:
	rm -rf $(VENV) build *.egg-info
