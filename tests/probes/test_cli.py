"""End to end on a real (tiny) model: cache → label → `backtrack directions` / `probe` / `compare-directions`."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

from activation_store.cache_config import CacheConfig
from activation_store.capture import cache_activations
from activation_store.direction import load_direction
from activation_store.labels import write_label
from activation_store.models import ModelConfig, load_model
from activation_store.models.tiny import CORPUS
from activation_store.tokens import TokenTable
from experiments.cli import main

HOOKS = ("blocks.1.hook_resid_post", "blocks.3.hook_resid_post")
OPENERS = ("Wait", "Hmm", "But wait", "Actually", "Alternatively")


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """40 traces of shuffled corpus sentences, labelled with a keyword labeller, cached twice."""
    path = tmp_path_factory.mktemp("cli") / "store.h5"
    loaded = load_model(ModelConfig(model="tiny-llama"))
    tok = loaded.tokenizer
    sentences = [s.strip() for s in re.split(r"(?<=[.?!])\s+", CORPUS) if s.strip()]
    rng = np.random.default_rng(0)
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Solve it."}], add_generation_prompt=True, tokenize=False
    )
    prompt = tok.encode(text, add_special_tokens=False)
    seqs, starts, thinking = [], [], []
    for _ in range(40):
        ids, st = list(prompt), [0] * len(prompt)
        for i in rng.permutation(len(sentences))[:12]:
            piece = tok.encode(" " + sentences[i], add_special_tokens=False)
            st += [int(sentences[i].startswith(OPENERS))] + [0] * (len(piece) - 1)
            ids += piece
        seqs.append(ids)
        starts += st
        thinking += [0] * len(prompt) + [1] * (len(ids) - len(prompt))
    tokens = TokenTable.from_sequences([f"q{i // 2}/s{i}" for i in range(40)], seqs)
    for name, seed in (("base", 0), ("reasoner", 1)):
        model = loaded if seed == 0 else load_model(ModelConfig(model="tiny-llama", seed=seed))
        cfg = CacheConfig(hooks=HOOKS, name=name, store_dtype="float32")
        cache_activations(model, tokens, path, cfg, progress=False)
    write_label(path, "backtracking_start", np.array(starts), attrs={"labeller": "keyword"})
    write_label(path, "thinking", np.array(thinking))
    return path


@pytest.mark.slow
def test_directions_probe_and_compare_from_the_command_line(tiny_store, tmp_path, capsys):
    dirs = tmp_path / "dirs"
    argv = ["directions", str(tiny_store), "--model", "base,reasoner", "--hook", HOOKS[0]]
    assert main([*argv, "--offsets", "-12:-8", "--n-random", "2", "--out", str(dirs)]) == 0
    assert "base_L1_dom" in capsys.readouterr().out
    dom = load_direction("base_L1_dom", directory=dirs)
    assert dom.provenance["offsets"] == [-12, -11, -10, -9, -8] and dom.mean_resid_norm > 0
    wait = load_direction("base_L1_embed-Wait", directory=dirs)
    assert wait.kind == "embedding" and wait.provenance["token"] == "Wait"
    comparison = json.loads((dirs / "comparison.json").read_text())
    names = comparison["cosines"]["names"]
    assert {"base_L1_dom", "reasoner_L1_dom", "base_L1_unembed-Hmm", "reasoner_L1_random1"} <= set(
        names
    )
    sims = {s["direction"]: s for s in comparison["token_similarity"]}
    assert sims["base_L1_embed-Wait"]["flagged"] and not sims["base_L1_dom"]["flagged"]
    lens = {x["direction"]: x for x in comparison["logit_lens"]}
    assert set(lens["base_L1_dom"]["ranks"]) == {"Wait", " Wait", "But", "Hmm"}
    assert (dirs / "cosines.png").exists() and (dirs / "cosines.svg").exists()

    out = tmp_path / "probes"
    argv = ["probe", str(tiny_store), "--models", "base,reasoner", "--layers", "all"]
    argv += ["--offsets", "-3:0", "--n-bootstrap", "50", "--Cs", "0.1", "--out", str(out)]
    assert main(argv) == 0
    rows = list(csv.DictReader((out / "results.csv").read_text().splitlines()))
    assert len(rows) == 2 * 2 * 4
    assert {r["model"] for r in rows} == {"base", "reasoner"}
    assert all(0 <= float(r["auroc"]) <= 1 for r in rows)
    report = json.loads((out / "results.json").read_text())
    assert report["config"]["offsets"] == [-3, -2, -1, 0] and report["passes"] == {
        "base": 1,
        "reasoner": 1,
    }
    for stem in ("auroc_heatmap", "auroc_curves"):
        assert (out / f"{stem}.png").exists() and (out / f"{stem}.svg").exists()

    cmp_out = tmp_path / "cmp"
    argv = [
        "compare-directions",
        str(dirs),
        "--names",
        "base_L1_dom,reasoner_L1_dom",
        "--out",
        str(cmp_out),
    ]
    assert main(argv) == 0
    cos = json.loads((cmp_out / "comparison.json").read_text())["cosines"]
    assert cos["names"] == ["base_L1_dom", "reasoner_L1_dom"]


def test_bad_input_is_one_line_with_exit_status_2(tiny_store, tmp_path, capsys):
    code = main(
        [
            "directions",
            str(tiny_store),
            "--hook",
            "blocks.2.hook_resid_post",
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: hook 'blocks.2.hook_resid_post' is not cached")
    assert err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:  # argparse rejects the value itself
        main(["probe", str(tiny_store), "--offsets", "-3:-5", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "offset range '-3:-5' is empty" in capsys.readouterr().err
