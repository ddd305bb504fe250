"""Fixtures: the span SAE, a planted store with a base and a reasoning model, a direction."""

from __future__ import annotations

from pathlib import Path

import pytest

from activation_store.direction import Direction
from tests.sae_analysis.helpers import (
    HOOK,
    build_store,
    event_labels,
    planted_acts,
    span_sae,
    token_table,
)


@pytest.fixture(scope="module")
def span(device: str):
    """(sae on ``device``, basis): exact on span(basis[:8]); see helpers.span_sae."""
    sae, basis = span_sae()
    return sae.to(device), basis


@pytest.fixture(scope="module")
def planted_store(tmp_path_factory: pytest.TempPathFactory, span) -> Path:
    """Store whose ``base`` activations push feature 0 up before backtracking; ``reasoner`` not."""
    _, basis = span
    tokens = token_table()
    _, _, window = event_labels(tokens)
    path = tmp_path_factory.mktemp("planted") / "store.h5"
    return build_store(
        path,
        tokens,
        {
            "base": planted_acts(tokens, basis, window, boost=4.0, seed=0),
            "reasoner": planted_acts(tokens, basis, window, boost=0.0, seed=1),
        },
    )


@pytest.fixture(scope="module")
def loaded_span(span):
    from sae_analysis.loading import LoadedSae

    sae, _ = span
    return LoadedSae(
        sae=sae,
        sae_id="span-test",
        source="directory",
        architecture="standard",
        hook_name=HOOK,
        model_name="synthetic-model",
        metadata_model_name="synthetic-model",
    )


@pytest.fixture
def direction(span) -> Direction:
    """3·b0 + 0.5·b1 (in the SAE's span) + 0.2·b20 (orthogonal to every decoder row)."""
    _, basis = span
    return Direction(
        name="base_L1_dom",
        vector=3 * basis[0] + 0.5 * basis[1] + 0.2 * basis[20],
        model="base",
        hook=HOOK,
        kind="diff_of_means",
    )
