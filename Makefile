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

.PHONY: help venv data test unit nbtest run export figures lab bench clean

help:
	@echo "make run      execute every notebook into build/ and render HTML"
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

# Fashion-MNIST: Debian's package where apt is available; otherwise the
# library falls back to torchvision's download at first use.
data:
	@if [ -f $(DEBIAN_DATA)/train-images-idx3-ubyte.gz ]; then \
	  echo "Fashion-MNIST found in $(DEBIAN_DATA)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -q dataset-fashion-mnist || \
	   (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)); \
	else \
	  echo "Fashion-MNIST not installed; d2lmini will try torchvision's download"; \
	fi

export: venv
	$(PY) -m d2lmini.export

figures: venv
	$(PY) tools/make_figures.py

unit: venv data
	D2LMINI_FAST=1 $(PY) -m pytest tests

nbtest: venv data
	D2LMINI_FAST=1 $(PY) -m pytest --nbval notebooks --sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

test: venv data
	D2LMINI_FAST=1 $(PY) -m pytest tests
	D2LMINI_FAST=1 $(PY) -m pytest --nbval notebooks --sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

run: venv data
	$(PY) tools/run_notebooks.py --out build

lab: venv data
	$(BIN)/pip install -e ".[notebook]"
	$(BIN)/jupyter lab notebooks/

bench: venv data
	$(PY) benchmarks/train_speed.py

clean:
	rm -rf build .pytest_cache
