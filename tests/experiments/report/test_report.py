"""The report: built from real tiny runs, every image exists, and a real browser renders it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from activation_store.core.errors import InputError
from activation_store.direction import load_directions
from experiments.cli import main
from experiments.report import build_report
from experiments.report.examples import highlighted
from experiments.steering.runs.runner import run_experiment
from tests.experiments.steering.helpers import ablation_config, sweep_config, write_inputs

pytestmark = pytest.mark.slow
SRC = re.compile(r'(?:src|href)="([^"#][^"]*)"')


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, device: str) -> tuple[Path, Path]:
    root = write_inputs(tmp_path_factory.mktemp("inputs"))
    out = tmp_path_factory.mktemp("runs")
    run_experiment(sweep_config(root, device=device), out / "sweep", progress=False)
    run_experiment(ablation_config(root, device=device), out / "ablation", progress=False)
    return out / "sweep", out / "ablation"


@pytest.fixture(scope="module")
def probes_dir(runs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real probes comparison (cosines + logit lens through tiny-llama) and a results table."""
    from probes.comparison_report import compare, model_space_lookup, write_comparison

    out = tmp_path_factory.mktemp("probes")
    directions = load_directions(runs[0] / "directions")
    write_comparison(compare(directions, model_space_lookup({"base": "tiny-llama"})), out)
    rows = [
        {
            "model": "base",
            "layer": layer,
            "offset": offset,
            "auroc": 0.5 + 0.02 * layer - 0.01 * offset,
        }
        for layer in (1, 2)
        for offset in (-12, -8, -1)
    ]
    (out / "results.json").write_text(json.dumps({"results": rows}))
    return out


@pytest.fixture(scope="module")
def report(
    runs: tuple[Path, Path], probes_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    sae = tmp_path_factory.mktemp("sae")
    (sae / "decomposition.json").write_text(
        json.dumps({"explained_variance": 0.42, "features": [{"index": 3, "cosine": 0.5}]})
    )
    for suffix in (".png", ".svg"):
        shutil.copyfile(probes_dir / f"cosines{suffix}", sae / f"umap{suffix}")
    out = tmp_path_factory.mktemp("report")
    build_report(list(runs), out, probes=probes_dir, sae=sae)
    return out


def test_every_referenced_file_exists_and_nothing_is_external(report: Path) -> None:
    html = (report / "index.html").read_text()
    refs = SRC.findall(html)
    images = [r for r in refs if r.endswith((".png", ".svg"))]
    assert len(images) >= 9  # 5 α curves, 2 dose-responses, AUROC heatmap, probes + SAE figures
    for ref in refs:
        assert not ref.startswith(("http:", "https:", "//")), ref
        assert (report / ref).is_file(), ref
    for png in images:
        assert (report / png).with_suffix(".svg").is_file()


def test_report_json_has_every_number(report: Path, runs: tuple[Path, Path]) -> None:
    numbers = json.loads((report / "report.json").read_text())
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        assert numbers["runs"][run.name]["summary"] == summary
    assert numbers["probes"]["comparison.json"]["cosines"]["names"]
    assert numbers["sae"]["decomposition.json"]["explained_variance"] == 0.42
    html = (report / "index.html").read_text()
    assert "Δ vs random" in html and "dose-response" in html and "Logit lens" in html


def test_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    url = (report / "index.html").resolve().as_uri()
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    n_img = len(re.findall(r"<img ", (report / "index.html").read_text()))
    assert f'data-images="{n_img}/{n_img}"' in dom.stdout  # the browser decoded every image
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, "--window-size=1200,1600", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_interrupted_run_summary_is_rebuilt(runs: tuple[Path, Path], tmp_path: Path) -> None:
    copy = tmp_path / "sweep"
    shutil.copytree(runs[0], copy)
    original = json.loads((copy / "summary.json").read_text())
    (copy / "summary.json").unlink()
    build_report([copy], tmp_path / "report")
    assert json.loads((copy / "summary.json").read_text()) == original


def test_highlighting_marks_backtracking_sentences() -> None:
    html = highlighted("So 2 + 2 = 5. Wait, 2 + 2 = 4 <ok>. Fine.")
    assert html == "So 2 + 2 = 5. <mark>Wait, 2 + 2 = 4 &lt;ok&gt;.</mark> Fine."


def test_cli_and_bad_input(
    runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(runs[1]), "--out", str(tmp_path / "r"), "--examples", "1"]) == 0
    assert (tmp_path / "r" / "index.html").is_file()
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not a run directory" in err and "\n" not in err
    with pytest.raises(InputError, match="no run directories"):
        build_report([], tmp_path / "r3")
