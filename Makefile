# Two commands for a newcomer: `make demo` (a small sweep on local Ray on real data, then its report)
# and `make test`. Each creates the virtual environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RESULTS ?= results/quick

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch (a wheel on this machine's disk; PyPI otherwise)
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[all,test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/diffnas sweep run sweeps/quick.yaml --storage $(RESULTS)
	$(BIN)/diffnas sweep confirm $(RESULTS) --top-k 2 --seeds 2
	$(BIN)/diffnas report $(RESULTS) --out $(RESULTS)/report

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_analysis.py

clean:
	rm -rf $(VENV) results runs .pytest_cache .ruff_cache
