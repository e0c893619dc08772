# Two commands for a new user: `make run` (execute the main text into build/)
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

.PHONY: help venv data browser test unit nbtest test-oldest run run-all site export translations figures lab bench clean

help:
	@echo "make run      execute the main text into build/ (the exercise answers keep their stored outputs) and render the site in build/html/"
	@echo "make run-all  the same, executing the exercise answers too"
	@echo "make site     render the committed notebooks (stored outputs) into build/html/"
	@echo "make test     unit tests, export/figure checks and nbval"
	@echo "make lab      open JupyterLab on notebooks/"
	@echo "make export   regenerate d2lmini modules from #@save cells, clean notebooks, update translations"
	@echo "make translations  update translation templates, catalogs and notebooks/LANG/"
	@echo "make figures  regenerate img/*.svg"
	@echo "make bench    training-speed benchmark against the d2l package"
	@echo "make test-oldest  unit tests with the lowest declared Python, torch, NumPy, matplotlib"

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

# System packages: Fashion-MNIST (Debian's dataset-fashion-mnist),
# graphviz's `dot` for the figures and a CJK font for the Chinese and
# Japanese ones (fonts-noto-cjk). Installed with apt where we are root;
# elsewhere the library falls back to torchvision's download and the figure
# comparison tests skip with a reason.
APT_PKGS := $(if $(wildcard $(DEBIAN_DATA)/train-images-idx3-ubyte.gz),,dataset-fashion-mnist) \
            $(if $(shell command -v dot),,graphviz) \
            $(if $(shell fc-list :lang=zh family 2>/dev/null),,fonts-noto-cjk)
data:
	@pkgs="$(strip $(APT_PKGS))"; \
	if [ -z "$$pkgs" ]; then \
	  echo "Fashion-MNIST, graphviz and the CJK fonts are installed"; \
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
	$(PY) tools/export.py
	$(PY) tools/translate.py

# Templates from the English notebooks, catalogs merged, translated notebooks
# written (notebooks/LANG/); see README "Translating the chapter".
translations: venv
	$(PY) tools/translate.py

figures: venv
	$(PY) tools/make_figures.py

unit: venv data browser
	D2LMINI_FAST=1 $(PY) -m pytest tests

nbtest: venv data
	D2LMINI_FAST=1 $(PY) -m pytest --nbval notebooks/*.ipynb -p no:cacheprovider

test: venv data browser
	D2LMINI_FAST=1 $(PY) -m pytest tests --durations=15
	D2LMINI_FAST=1 $(PY) -m pytest --nbval notebooks/*.ipynb -p no:cacheprovider

# The lowest versions pyproject.toml declares, installed into a second venv
# with the lowest declared Python where one is found (python3.10 on PATH or
# under pyenv), so the declared bounds are tested, not hoped for.
OLDEST_VENV ?= .venv-oldest
OLDEST_PINS ?= torch==2.4.0 torchvision==0.19.0 numpy==1.24.4 matplotlib==3.7.0 tqdm==4.64.0
OLDEST_PYTHON ?= $(firstword $(shell for p in python3.10 \
    $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python; do \
    $$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && echo $$p; done) \
    $(PYTHON))
test-oldest: data
	@$(OLDEST_PYTHON) -c 'import sys; print("test-oldest: Python", sys.version.split()[0])'
	test -x $(OLDEST_VENV)/bin/python || $(OLDEST_PYTHON) -m venv $(OLDEST_VENV)
	printf '%s\n' $(OLDEST_PINS) > $(OLDEST_VENV)/pins.txt
	$(OLDEST_VENV)/bin/pip install -c $(OLDEST_VENV)/pins.txt -e ".[test]"
	$(OLDEST_VENV)/bin/pip install --no-deps $(D2L_ORACLE)
	$(OLDEST_VENV)/bin/python -c 'import sys, torch, torchvision, numpy, matplotlib; \
	  print("test-oldest:", sys.version.split()[0], torch.__version__, torchvision.__version__, \
	        numpy.__version__, matplotlib.__version__)'
	D2LMINI_FAST=1 $(OLDEST_VENV)/bin/python -m pytest tests -p no:cacheprovider

# Execute the notebooks into build/notebooks/, then render build/html/
# (Sphinx, book/conf.py; warnings are errors). `make run` executes the main
# text and the last page and copies the exercise answers with their stored
# outputs; `make run-all` executes every notebook. benchmarks/README.md
# records how long each takes.
run: venv data
	$(PY) tools/run_notebooks.py --out build --keep-answers

run-all: venv data
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
