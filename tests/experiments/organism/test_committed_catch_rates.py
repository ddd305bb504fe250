"""The model card's catch rates follow from the committed free samples: rescoring them with the
evaluation's scorer gives the card's counts, and the grounding that the evaluation recorded."""

from __future__ import annotations

import json

import pytest

from experiments.organism.scoring import figures, score_trace
from experiments.organism.trace_files import read_traces
from tests.paths import REPO_ROOT

CARD = {  # (build, model): (own wrong steps, caught, slips, slips caught); model card "After v6"
    ("organism_v6", "smollm2-135m-reasoner-v5"): (99, 60, 50, 28),
    ("organism_v6", "smollm2-135m-reasoner"): (45, 5, 29, 3),
    ("organism_v7", "smollm2-135m-reasoner"): (45, 7, 30, 4),
    ("organism_v8", "smollm2-135m-reasoner"): (24, 1, 16, 1),
    ("organism_v9", "smollm2-135m-reasoner"): (94, 24, 57, 11),
}
HELDOUT = REPO_ROOT / "results" / "organism_v6" / "traces" / "heldout.jsonl"
"""The held-out problems of v6–v9 (their builds' traces configs are identical)."""


@pytest.mark.parametrize(("build", "model"), sorted(CARD))
def test_rescored_committed_samples_give_the_cards_catch_counts(build: str, model: str) -> None:
    results = REPO_ROOT / "results" / build / "eval"
    problems = {t.problem.id: t.problem for t in read_traces(HELDOUT)}
    rows = [json.loads(line) for line in (results / "samples.jsonl").read_text().splitlines()]
    scores = [
        score_trace(problems[r["problem_id"]], r["text"]) for r in rows if r["model"] == model
    ]
    keys = ("n_wrong", "caught", "slips", "slips_caught")
    assert tuple(sum(getattr(s, k) for s in scores) for k in keys) == CARD[build, model]
    recorded = json.loads((results / "results.json").read_text())["figures"][model]
    grounding = figures(scores).grounding
    assert grounding is not None
    assert grounding.mean == pytest.approx(recorded["grounding"]["mean"])
