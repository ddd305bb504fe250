"""Build the report: ``index.html`` + ``figures/`` + ``report.json`` in one directory."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from activation_store.core.errors import InputError
from activation_store.version import TOOLKIT_VERSION
from experiments.report.examples import examples
from experiments.report.extras import probes_section, sae_section
from experiments.report.findings_section import findings_section
from experiments.report.ground_truth_section import ground_truth_section
from experiments.report.html import section
from experiments.report.page import page
from experiments.report.runs import RunData, load_run
from experiments.report.sections import ablation_section, cells_table, config_section, sweep_section

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportResult:
    """Where the report went."""

    html: Path
    """``index.html``."""
    numbers: Path
    """``report.json``: every number on the page (and more)."""
    figures: list[Path]
    """Every figure file (SVG and PNG) the page uses or ships."""


def build_report(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    probes: str | Path | None = None,
    sae: str | Path | None = None,
    findings: str | Path | None = None,
    n_examples: int = 3,
) -> ReportResult:
    """Write the report of ``run_dirs`` (and the probes / SAE / findings directories) into ``out``."""
    if not run_dirs and findings is None:
        raise InputError(
            "no run directories given; pass at least one from backtrack steer, or --findings"
        )
    runs = [load_run(p) for p in run_dirs]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise InputError(f"run directories must have distinct names (got {', '.join(names)})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures: list[Path] = []
    numbers: dict[str, Any] = {"toolkit_version": TOOLKIT_VERSION, "runs": {}, "examples": {}}
    sections = []
    if findings is not None:
        html, numbers["findings"] = findings_section(Path(findings), out, figures)
        truth = ground_truth_section(numbers["findings"])
        if truth is not None:
            sections.append(
                ("ground-truth", "Ground truth", section("ground-truth", "Ground truth", truth))
            )
        sections.append(("findings", "Findings", section("findings", "Findings", html)))
    for run in runs:
        sections += _run_sections(run, out, figures, numbers, n_examples)
    if probes is not None:
        html, numbers["probes"] = probes_section(Path(probes), out, figures)
        sections.append(
            ("probes", "Directions and probes", section("probes", "Directions and probes", html))
        )
    if sae is not None:
        html, numbers["sae"] = sae_section(Path(sae), out, figures)
        sections.append(("sae", "SAE decomposition", section("sae", "SAE decomposition", html)))
    built = datetime.now(timezone.utc).isoformat(timespec="seconds")
    subtitle = (
        f"Runs: {', '.join(names) or 'findings only'} · toolkit {TOOLKIT_VERSION} · built {built}"
    )
    html_path = out / "index.html"
    html_path.write_text(page("Backtracking steering report", subtitle, sections), encoding="utf-8")
    numbers["figures"] = [p.relative_to(out).as_posix() for p in figures]
    numbers_path = out / "report.json"
    numbers_path.write_text(json.dumps(numbers, indent=2, default=str) + "\n")
    logger.info("report written to %s (%d figures)", html_path, len(figures))
    return ReportResult(html_path, numbers_path, figures)


def _run_sections(
    run: RunData, out: Path, figures: list[Path], numbers: dict[str, Any], n_examples: int
) -> list[tuple[str, str, str]]:
    anchor = f"run-{run.name}"
    numbers["runs"][run.name] = {
        "path": str(run.path),
        "kind": run.kind,
        "config": run.config,
        "environment": run.environment,
        "summary": run.summary,
    }
    if run.kind == "sweep":
        title = f"Steering sweep: {run.name}"
        body = sweep_section(run, out, figures)
        intro = (
            "Does adding the direction make the model backtrack more than norm-matched controls do?"
        )
    else:
        title = f"Joint mediation (ablation): {run.name}"
        body = ablation_section(run, out, figures)
        intro = "Does projecting the directions out reduce backtracking more than removing random subspaces?"
    example_html, records = examples(run, n_examples)
    numbers["examples"][run.name] = records
    body += cells_table(run)
    return [
        (anchor, title, section(anchor, title, body, intro)),
        (
            f"{anchor}-examples",
            f"Examples: {run.name}",
            section(
                f"{anchor}-examples",
                f"Example generations: {run.name}",
                example_html,
                "Unsteered (left) vs the strongest intervention (right); backtracking sentences highlighted.",
            ),
        ),
        (
            f"{anchor}-config",
            f"Config and environment: {run.name}",
            section(f"{anchor}-config", f"Config and environment: {run.name}", config_section(run)),
        ),
    ]
