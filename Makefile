# Two commands on a fresh clone: `make demo` and `make test`. Each creates .venv if
# it is missing and installs what it needs into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BASE := $(VENV)/.installed
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench fuzz lab docs gpu-check clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# the demo needs chainrule, NumPy and matplotlib (the report's figures)
$(BASE): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[plot]'
	touch $(BASE)

# torch==2.13.0 is pinned in the dev extra: an unpinned torch pulls a multi-GB CUDA build
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(BASE) $(STAMP)

demo: $(BASE)
	$(PY) -m chainrule tour --report out/tour.html
	@echo
	@echo "The chainrule command is in the virtual environment: run it as .venv/bin/chainrule,"
	@echo "or activate the environment first (. .venv/bin/activate) and type chainrule."

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# JupyterLab on the notebooks (the lecture in order), installed into the venv
lab: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,lab]'
	$(VENV)/bin/jupyter lab notebooks/

# the docs site (guides, the API reference from the docstrings, the notebooks), built offline into site/
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

# the fuzz tests of make test, with 5000 examples each instead of 60 (a few minutes)
fuzz: $(STAMP)
	$(PY) -m pytest tests/test_fuzz.py --hypothesis-profile=fuzz -q

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) bench/bench_engine.py
	$(PY) bench/bench_train.py
	$(PY) bench/bench_graphs.py
	$(PY) bench/bench_dist.py

# The GPU half, on a machine with an NVIDIA GPU: every device-parametrized test on CuPy (the
# "cuda" cases, skipped by make test where there is no GPU), then bench/bench_gpu.py against
# PyTorch on CUDA. It installs the gpu extra (CuPy for CUDA 12) into .venv; where a Python
# already has CuPy and a CUDA PyTorch, use that one instead: make gpu-check GPU_PY=python3
GPU_PY ?= $(PY)
gpu-check:
	@if [ "$(GPU_PY)" = "$(PY)" ]; then $(MAKE) --no-print-directory $(STAMP) && $(PY) -m pip install --quiet -e '.[gpu]'; fi
	PYTHONPATH=. $(GPU_PY) -c "import chainrule as cr, sys; cr.cuda_available() or sys.exit('gpu-check: CuPy sees no GPU')"
	PYTHONPATH=. $(GPU_PY) -m pytest -q -p no:cacheprovider tests -k "cuda or cupy or gpu"
	PYTHONPATH=. $(GPU_PY) bench/bench_gpu.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
