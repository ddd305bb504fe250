"""Controls for position in the template: the layout of tokens, matched negatives and the
structure baseline, on traces where position alone separates the classes (and where it does not)."""

from __future__ import annotations

import numpy as np
import pytest

from activation_store.core.errors import InputError
from activation_store.create import create_store
from activation_store.labels import write_label
from activation_store.reader import ActivationStore
from activation_store.tokens import TokenTable
from probes.config import ProbeConfig
from probes.layout import store_layout, token_layout
from probes.metrics import ranking_metrics
from probes.probe_data import _matched_negatives, build_probe_data, negative_candidates
from probes.probe_run import run_probes
from probes.splits import TRAIN, VAL
from tests.probes.helpers import CHECK, HOOKS, NEWLINE, STEP, template_store, write_model

FAST = {"n_bootstrap": 200, "max_negatives": 3000, "Cs": (0.01, 1.0), "token_baseline": False}


def test_layout_counts_from_line_and_sentence_boundaries() -> None:
    texts = {1: "Check", 2: " 7", 3: ".", 4: "\n", 5: " So", 6: "x"}
    ids = np.array([1, 2, 3, 2, 4, 5, 6, 4, 5, 6])
    seq = np.array([0] * 8 + [1] * 2)
    layout = token_layout(ids, seq, lambda batch: [texts[i] for i in batch])
    assert layout.since_line.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1]
    assert layout.until_line.tolist() == [4, 3, 2, 1, 0, 2, 1, 0, 1, 0]
    assert layout.since_sentence.tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 0, 1]
    assert layout.line_opener.tolist() == [1, 1, 1, 1, 1, 5, 5, 5, 5, 5]
    assert layout.position.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
    assert (layout.key(0) == layout.key(0)[0]).sum() == 1  # (opener, to end, from start) unique
    assert len(set(layout.key(2).tolist())) == 2 and set(layout.key(3).tolist()) == {0}
    # without the opener, lines of different openers share their distance slots
    assert len(set(layout.key(1).tolist())) == 8  # (opener, to end)
    assert len(set(layout.key(1, opener=False).tolist())) == 5  # to end only
    assert set(layout.key(2, opener=False).tolist()) == {0}
    assert layout.features(np.arange(10)).shape[0] == 10


def test_the_store_layout_uses_the_models_tokenizer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    template = template_store(tmp_path / "t.h5", concept=0.0, n_seq=4)
    with ActivationStore(template.path) as store:
        layout = store_layout(store, "base")
        ids = store.tokens.ids
    assert (layout.line_opener[ids == CHECK] == CHECK).all()
    assert (layout.until_line[ids == NEWLINE] == 0).all()


@pytest.fixture(scope="module")
def position_only(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return template_store(tmp_path_factory.mktemp("layout") / "t.h5", concept=0.0, n_seq=240)


def _at(report, offset):  # type: ignore[no-untyped-def]
    return next(r for r in report.results if r.hook == HOOKS[1] and r.offset == offset)


def test_position_alone_loses_to_the_structure_baseline(position_only) -> None:  # type: ignore[no-untyped-def]
    """With uniform negatives the activations separate the classes (they encode the Check line's
    last tokens) — but the structure baseline does as well, so nothing is left over it."""
    cfg = ProbeConfig(offsets=(-2,), negatives="uniform", **FAST)
    hit = _at(run_probes(position_only.path, cfg), -2)
    assert hit.auroc > 0.8
    assert hit.structure_auroc > 0.8
    assert hit.auroc_over_structure_lo < 0.02  # the probe does not beat position in the template


def test_matched_negatives_leave_position_alone_at_chance(position_only) -> None:  # type: ignore[no-untyped-def]
    cfg = ProbeConfig(offsets=(-2,), negatives="matched", **FAST)
    report = run_probes(position_only.path, cfg)
    hit = _at(report, -2)
    assert hit.negatives == "matched"
    assert abs(hit.auroc - 0.5) < 0.1 and hit.auroc_lo < 0.5 < hit.auroc_hi
    levels = report.counts["per_offset"]["-2"]["match_levels"]
    assert levels["opener+line end+line start"] > 0.9 * sum(levels.values())


def test_a_real_precursor_survives_both_controls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    template = template_store(tmp_path / "c.h5", concept=3.0)
    cfg = ProbeConfig(offsets=(-2,), negatives="matched", **FAST)
    hit = _at(run_probes(template.path, cfg), -2)
    assert hit.auroc > 0.9
    assert hit.auroc_over_structure_lo > 0.2


def test_matched_negatives_are_never_positive_and_match_the_slots(position_only) -> None:  # type: ignore[no-untyped-def]
    cfg = ProbeConfig(offsets=(-3, -2), negatives="matched", max_negatives=2000)
    with ActivationStore(position_only.path) as store:
        data = build_probe_data(store, cfg)
        layout = store_layout(store, "base")
    for o in range(2):
        pos, neg = data.rows[data.positive[o]], data.rows[data.negative[o]]
        assert not (data.positive[:, data.negative[o]]).any()
        assert len(neg) >= len(pos)
        key = layout.key(0)
        assert set(key[neg].tolist()) <= set(key[pos].tolist())  # every negative shares a slot


def test_position_negatives_match_the_distances_whatever_opens_the_line(position_only) -> None:  # type: ignore[no-untyped-def]
    """negatives="position": the slots of matched negatives without the line opener, so a
    negative may come from a line another token opened (where backtracks chain, a line a
    backtrack opened is an outcome of the concept, not the template)."""
    cfg = ProbeConfig(offsets=(-3, -2), negatives="position", max_negatives=2000)
    with ActivationStore(position_only.path) as store:
        data = build_probe_data(store, cfg)
        layout = store_layout(store, "base")
    assert set(data.counts["per_offset"]["-2"]["match_levels"]) == {
        "line end+line start",
        "line end",
        "any",
    }
    key, with_opener = layout.key(0, opener=False), layout.key(0)
    for o in range(2):
        pos, neg = data.rows[data.positive[o]], data.rows[data.negative[o]]
        assert not (data.positive[:, data.negative[o]]).any()
        assert set(key[neg].tolist()) <= set(key[pos].tolist())
    # some of them sit in slots the opener-matched negatives could not come from
    pos, neg = data.rows[data.positive[1]], data.rows[data.negative[1]]
    assert not set(with_opener[neg].tolist()) <= set(with_opener[pos].tolist())


@pytest.mark.parametrize("negatives", ["matched", "position"])
def test_matched_negatives_come_from_their_positives_split(negatives: str) -> None:
    """A val positive whose layout slot has candidates only in train takes its negatives from
    val's coarser slots, never from train: each split's negatives match that split's positives
    (and a split with positives is never left without negatives)."""
    texts = {1: "Wait", 2: " x", 3: "\n", 4: "So"}
    train = [1, 2, 2, 3] * 3  # lines opened by Wait: the positive's slot, but in train
    val = [1, 2, 2, 3] + [4, 2, 2, 3] * 2  # one Wait line (its first token the positive), So lines
    ids = np.array(train + val)
    seq = np.array([0] * len(train) + [1] * len(val))
    layout = token_layout(ids, seq, lambda batch: [texts[i] for i in batch])
    positive = np.zeros((1, len(ids)), dtype=bool)
    positive[0, len(train)] = True
    row_part = np.where(seq == 0, TRAIN, VAL).astype(np.int8)
    cfg = ProbeConfig(offsets=(0,), negatives=negatives, max_negatives=10)  # type: ignore[arg-type]
    events = np.zeros(len(ids), dtype=bool)  # no backtrack follows: only the positive is left out
    candidates = negative_candidates(seq, events, positive, np.ones(len(ids), dtype=bool), layout)
    rows, levels = _matched_negatives(
        positive, candidates, row_part, layout, cfg, np.random.default_rng(0)
    )
    assert len(rows[0]) >= 1 and (row_part[rows[0]] == VAL).all()
    assert not positive[0, rows[0]].any()
    assert sum(levels[0].values()) == len(rows[0])
    if negatives == "matched":  # its finest slot (Wait opens the line) has candidates in train only
        assert levels[0]["opener+line end+line start"] == 0


def test_every_positive_gets_a_matched_negative_even_at_the_smallest_budget() -> None:
    """With a budget of one negative per positive, each positive's slot gets its one: the budget's
    share is never zero for a positive, so no slot (and no split) is left short."""
    texts = {1: "Wait", 2: " x", 3: "\n"}
    ids = np.array(([1] + [2] * 9 + [3]) * 24)
    seq = np.repeat(np.arange(24), 11)
    layout = token_layout(ids, seq, lambda batch: [texts[i] for i in batch])
    positive = np.zeros((1, len(ids)), dtype=bool)
    positive[0, [11 * line + line for line in range(10)]] = True  # ten slots: 0…9 from line start
    cfg = ProbeConfig(offsets=(0,), negatives="matched", max_negatives=10)  # a budget of 10
    events = np.zeros(len(ids), dtype=bool)
    rows, levels = _matched_negatives(
        positive,
        negative_candidates(seq, events, positive, np.ones(len(ids), dtype=bool), layout),
        np.full(len(ids), VAL, dtype=np.int8),
        layout,
        cfg,
        np.random.default_rng(0),
    )
    key = layout.key(0)
    assert sorted(key[rows[0]].tolist()) == sorted(key[positive[0]].tolist())
    assert levels[0]["opener+line end+line start"] == 10


def test_every_split_of_the_store_gets_negatives_in_its_positives_slots(position_only) -> None:  # type: ignore[no-untyped-def]
    cfg = ProbeConfig(offsets=(-2, 0), negatives="matched", max_negatives=2000)
    with ActivationStore(position_only.path) as store:
        data = build_probe_data(store, cfg)
        key = store_layout(store, "base").key(0)
    for o in range(2):
        for p in range(3):
            in_p = data.part == p
            pos, neg = data.rows[data.positive[o] & in_p], data.rows[data.negative[o] & in_p]
            assert len(neg) >= len(pos) > 0
            assert set(key[neg].tolist()) <= set(key[pos].tolist())


def test_a_layout_of_another_store_is_refused(position_only) -> None:  # type: ignore[no-untyped-def]
    texts = {1: "Wait", 2: "\n"}
    other = token_layout(np.array([1, 2]), np.array([0, 0]), lambda b: [texts[i] for i in b])
    with ActivationStore(position_only.path) as store, pytest.raises(InputError, match="layout"):
        build_probe_data(store, ProbeConfig(offsets=(0,), negatives="matched"), other)


def test_negative_candidates_leave_out_the_lines_that_run_into_a_backtrack() -> None:
    """A token is no candidate negative when a backtracking start follows it no later than just
    past its line's end (the line ends into the backtrack, or holds it later on); tokens after a
    start, and lines that end into no backtrack, stay candidates."""
    texts = {1: "Wait", 2: " x", 3: "\n", 4: "So"}
    first, second = [4, 2, 2, 3, 1, 2, 3, 4, 2, 1, 2, 3, 4, 2, 3], [4, 2, 3, 1, 2]
    ids = np.array([*first, *second])
    seq = np.array([0] * 15 + [1] * 5)
    events = ids == 1
    layout = token_layout(ids, seq, lambda batch: [texts[i] for i in batch])
    none = np.zeros((1, len(ids)), dtype=bool)
    got = negative_candidates(seq, events, none, np.ones(len(ids), dtype=bool), layout)
    runs_in = [0, 1, 2, 3, 7, 8, 15, 16, 17]  # So x x \n | So x (Wait) | seq 1: So x \n
    assert np.flatnonzero(~got).tolist() == sorted(runs_in)
    # a positive is never a candidate, and neither is a token outside the reference span
    positive = np.zeros((1, len(ids)), dtype=bool)
    positive[0, 5] = True
    reference = np.ones(len(ids), dtype=bool)
    reference[13] = False
    got = negative_candidates(seq, events, positive, reference, layout)
    assert not got[5] and not got[13] and got[12] and got[14]


def _check_lines_store(path, n_seq: int = 60):  # type: ignore[no-untyped-def]
    """Every Check line runs into a backtracking line, and all its tokens carry the concept (a
    precursor that persists over the line, longer than the probe offsets reach)."""
    rng = np.random.default_rng(0)
    d_model, line_len = 32, 8
    concept = rng.normal(size=d_model)
    concept /= np.linalg.norm(concept)
    seqs, starts, marked = [], [], []
    for s in range(n_seq):
        ids: list[int] = []
        for line in range(10):  # a Check line is never the last: a backtracking line follows
            check = rng.random() < 0.3 and line < 9 and (not ids or ids[-line_len] != CHECK)
            if check:
                marked += [(s, len(ids) + j) for j in range(line_len)]
                starts.append((s, len(ids) + line_len))
            ids += [CHECK if check else STEP, *rng.integers(40, 180, size=line_len - 2), NEWLINE]
        seqs.append(ids)
    tokens = TokenTable.from_sequences([f"t{i}" for i in range(n_seq)], seqs)
    label = np.zeros(tokens.n_tokens, dtype=np.uint8)
    for s, pos in starts:
        if pos < len(seqs[s]):
            label[tokens.offsets[s] + pos] = 1
    x = rng.normal(size=(tokens.n_tokens, d_model))
    for s, pos in marked:
        x[tokens.offsets[s] + pos] += 4.0 * concept
    create_store(path, tokens, tokenizer_id="tiny", config={"test": "check lines"})
    write_model(path, "base", {h: x.astype(np.float32) for h in HOOKS}, tokens)
    write_label(path, "backtracking_start", label, attrs={"labeller": "check lines"})
    write_label(path, "thinking", np.ones(tokens.n_tokens, dtype=np.uint8))
    return concept


@pytest.mark.parametrize("negatives", ["matched", "position"])
def test_no_negative_comes_from_a_line_that_runs_into_a_backtrack(tmp_path, negatives: str) -> None:  # type: ignore[no-untyped-def]
    """Where a positive's own slots hold no other candidate (every Check line runs into a
    backtrack), its negatives come from coarser slots — but not from the rest of those lines,
    further from the backtrack than the probe offsets reach, where the persistent concept is as
    high as at the positives: read as negatives they would cost the precursor its AUROC."""
    path = tmp_path / "lines.h5"
    concept = _check_lines_store(path)
    cfg = ProbeConfig(offsets=(-3, -2), negatives=negatives, max_negatives=400)  # type: ignore[arg-type]
    with ActivationStore(path) as store:
        data = build_probe_data(store, cfg)
        layout = store_layout(store, "base")
        x = store.read("base", HOOKS[0], data.rows).astype(np.float64)
    for o in range(2):
        neg = data.rows[data.negative[o]]
        assert len(neg) >= data.positive[o].sum() > 0
        assert (layout.line_opener[neg] != CHECK).all()  # every Check line runs into a backtrack
        sel = data.positive[o] | data.negative[o]
        auc, _ = ranking_metrics((x @ concept)[sel], data.positive[o][sel], np.ones((1, sel.sum())))
        assert auc[0] > 0.95
