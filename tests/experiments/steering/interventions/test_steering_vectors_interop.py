"""The README's steering-vectors snippet gives the same logits as our own steering."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from activation_store.direction import load_direction, save_direction
from activation_store.models import LoadedModel
from experiments.steering import add_interventions, steer_hf
from tests.paths import REPO_ROOT

from ..conftest import encode, make_direction

pytest.importorskip("steering_vectors")

README = REPO_ROOT / "README.md"
MARKER = "<!-- steering-vectors snippet: run by tests/experiments/steering/interventions/test_steering_vectors_interop.py -->"


def readme_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(re.escape(MARKER) + r"\n```python\n(.*?)```", text, re.DOTALL)
    assert found, "the README lost its steering-vectors snippet"
    return found.group(1)


@pytest.mark.parametrize("hook", ["blocks.1.hook_resid_post", "blocks.3.hook_resid_post"])
def test_the_readme_snippet_steers_like_steer_hf(
    tiny: LoadedModel, tmp_path: Path, hook: str
) -> None:
    path = save_direction(make_direction("base_dom", hook=hook), tmp_path)
    name, alpha = str(path.with_suffix("")), 6.0
    code = readme_snippet()
    literal = 'name, alpha = "dirs/reasoner_L10_dom", 8.0'
    assert literal in code
    code = code.replace(literal, f"name, alpha = {name!r}, {alpha!r}")
    ids = torch.tensor(encode(tiny)[:1] * 2, device=tiny.device)
    namespace: dict[str, object] = {"hf_model": tiny.hf_model, "input_ids": ids}
    with torch.no_grad():
        plain = tiny.hf_model(ids).logits
        exec(compile(code, "README.md", "exec"), namespace)
        theirs = namespace["logits"]
        ours_interventions = add_interventions([load_direction(path)], [alpha])
        with steer_hf(tiny.hf_model, ours_interventions):  # type: ignore[arg-type]
            ours = tiny.hf_model(ids).logits
        after = tiny.hf_model(ids).logits
    assert isinstance(theirs, torch.Tensor)
    assert (ours - plain).abs().max() > 0.1  # it steers
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(after, plain)  # both removed their hooks
