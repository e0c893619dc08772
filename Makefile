# Two commands for a new user: `make run` (execute the chapter into build/)
# and `make test` (unit tests + nbval). Both create or reuse .venv/.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# torch is installed before the project so pip never swaps it for another
# build. Override on machines with a different wheel source, for example
#   make test TORCH_SPEC="torch torchvision"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# The published book library, used by the tests as a reference oracle only.
D2L_ORACLE ?= d2l==1.0.3
DEBIAN_DATA := /usr/share/datasets/fashion-mnist

.PHONY: help venv data browser test unit nbtest run site export figures lab bench clean

help:
	@echo "make run      execute every notebook into build/ and render the site in build/html/"
	@echo "make site     render the committed notebooks (stored outputs) into build/html/"
	@echo "make test     unit tests, export/figure checks and nbval"
	@echo "make lab      open JupyterLab on notebooks/"
	@echo "make export   regenerate d2lmini modules from #@save cells"
	@echo "make figures  regenerate img/*.svg"
	@echo "make bench    training-speed benchmark against the d2l package"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch, torchvision" 2>/dev/null || $(BIN)/pip install $(TORCH_SPEC)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install -e ".[test]"
	$(BIN)/pip install --no-deps $(D2L_ORACLE)
	touch $@

venv: $(VENV)/.installed

# System packages: Fashion-MNIST (Debian's dataset-fashion-mnist) and
# graphviz's `dot` for the figures. Installed with apt where we are root;
# elsewhere the library falls back to torchvision's download and the figure
# comparison tests skip with a reason.
APT_PKGS := $(if $(wildcard $(DEBIAN_DATA)/train-images-idx3-ubyte.gz),,dataset-fashion-mnist) \
            $(if $(shell command -v dot),,graphviz)
data:
	@pkgs="$(strip $(APT_PKGS))"; \
	if [ -z "$$pkgs" ]; then \
	  echo "Fashion-MNIST and graphviz are installed"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -q $$pkgs || (apt-get update -q && apt-get install -y -q $$pkgs); \
	else \
	  echo "Missing system packages: $$pkgs (Fashion-MNIST falls back to torchvision's download)"; \
	fi

# Chromium for tests/test_site.py (Playwright drives the system browser);
# installed with apt where we are root, otherwise the browser test skips.
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then \
	  echo "Chromium is installed"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium) || \
	  echo "Chromium could not be installed: the browser test will skip"; \
	else \
	  echo "No Chromium and no apt as root: the browser test will skip"; \
	fi

export: venv
	$(PY) -m d2lmini.export

figures: venv
	$(PY) tools/make_figures.py

unit: venv data browser
	D2LMINI_FAST=1 $(PY) -m pytest tests

nbtest: venv data
	D2LMINI_FAST=1 $(PY) -m pytest --nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

test: venv data browser
	D2LMINI_FAST=1 $(PY) -m pytest tests
	D2LMINI_FAST=1 $(PY) -m pytest --nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

# Execute the notebooks into build/notebooks/, then render build/html/
# (Sphinx, book/conf.py; warnings are errors).
run: venv data
	$(PY) tools/run_notebooks.py --out build

# Render the committed notebooks with their stored outputs, nothing executed.
site: venv
	$(PY) tools/run_notebooks.py --out build --no-execute

lab: venv data
	$(BIN)/pip install -e ".[notebook]"
	$(BIN)/jupyter lab notebooks/

bench: venv data
	$(PY) benchmarks/train_speed.py

clean:
	rm -rf build .pytest_cache
