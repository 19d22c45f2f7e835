# Two commands: `make run` (set up, index the seeds if needed, serve the chat) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CLUSTER := $(VENV)/.cluster
MILVUS := .venv-milvus
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test setup chromium nginx lint bench-eval clean

run: $(STAMP)
	$(VENV)/bin/qa serve

test: $(CLUSTER) $(MILVUS)/.installed chromium nginx
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

setup: $(STAMP)

# torch first, pinned, so pip takes the small CPU wheel instead of a multi-GB CUDA build.
# Each step says what it does: the first install takes a minute or two and is otherwise silent.
$(STAMP): pyproject.toml
	@echo "==> setting up $(VENV) (first time: 1-2 minutes)"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "==> installing torch==2.13.0 (the CPU wheel)"
	@$(PY) -m pip install --quiet torch==2.13.0
	@echo "==> installing qa and its dependencies (pip install -e '.[test,ocr]')"
	@$(PY) -m pip install --quiet -e '.[test,ocr]'
	@touch $(STAMP)
	@echo "==> set up; the model is prepared for the CPU on first use (once, ~20 s)"

# Ray (the optional [cluster] extra, for `qa index --ray`) and Milvus (the [milvus] extra, for
# `--store milvus:...`) only for the tests: `make run` does without them.
$(CLUSTER): $(STAMP)
	@echo "==> installing the [cluster] and [milvus] extras (Ray, pymilvus, milvus-lite) for the tests"
	@$(PY) -m pip install --quiet -e '.[test,ocr,cluster,milvus]'
	@touch $(CLUSTER)

# The real Milvus 2.3.5 server for tests/milvus_server.py: PyPI's `milvus` ships the server
# binary and its libraries (glibc is all it needs from the system). A virtualenv of its own:
# its dependencies are not ours. Its binaries are unpacked here once (~7 s), not at each start.
$(MILVUS)/.installed: Makefile
	@echo "==> installing the Milvus 2.3.5 server for the tests ($(MILVUS))"
	@test -x $(MILVUS)/bin/python || python3 -m venv $(MILVUS)
	@$(MILVUS)/bin/python -m pip install --quiet milvus==2.3.5
	@$(MILVUS)/bin/python -c "import milvus; milvus._initialize_data_files('$(MILVUS)/server')"
	@touch $@

# Debian's Chromium for the browser tests; Playwright never downloads a browser here.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

# Debian's nginx for the replicas test (tests/test_replicas.py starts its own, on loopback).
nginx:
	@test -x /usr/sbin/nginx || { apt-get update -qq && apt-get install -y -qq nginx; }

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) $(MILVUS) index/current index/versions index/.lock
