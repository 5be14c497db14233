"""The README's first command, ``bash scripts/demo.sh``, end to end at the CI size (configs/demo-ci.yaml):
setup (idempotent, seconds after the test command's own setup), then every step as its real CLI in a
subprocess; every artefact the README promises exists and parses."""

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from dynaflip.eval.results import read_results

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"
ENCODERS = {"dynaflip", "image-only", "random", "oracle-state", "blind"}  # + the calibration rows


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    command = ["bash", "scripts/demo.sh", "--config", "configs/demo-ci.yaml", f"output_dir={out}"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"Report: {out / 'report' / 'report.md'}" in done.stdout
    return out


def test_data_and_runs(demo):
    manifest = json.loads((demo / "data" / "metaworld" / "manifest.json").read_text())
    assert manifest
    shards = sorted((demo / "data" / "metaworld").glob("*.tar"))
    assert shards
    with tarfile.open(shards[0]) as tar:
        names = tar.getnames()
    assert any(name.endswith(".points3d.npy") for name in names) and any(name.endswith(".json") for name in names)
    assert len(list((demo / "report" / "tracks").glob("*.png"))) >= 1
    for run in ("dynaflip", "image-only"):
        export = demo / "runs" / run / "export"
        assert (export / "model.safetensors").stat().st_size > 0
        assert json.loads((export / "config.json").read_text())["format"] == "dynaflip-image-encoder"
        rows = [json.loads(line) for line in (demo / "runs" / run / "metrics.jsonl").read_text().splitlines()]
        assert rows and all("loss" in row for row in rows)
    config = yaml.safe_load((demo / "pipeline-config.yaml").read_text())
    assert config["output_dir"] == str(demo)


def test_probe_and_policy_results_are_named_by_encoder(demo):
    probe = {path.parent.name for path in (demo / "results" / "probe").glob("*/results.json")}
    assert {"dynaflip", "image-only"} <= probe and len(probe) == 3
    policy = {path.parent.name for path in (demo / "results" / "policy").glob("*/results.json")}
    assert policy == ENCODERS
    for path in (demo / "results").glob("*/*/results.json"):
        results = read_results(path)
        rows = results["rows"]  # an interval, when there is one (NaN ends: none), holds its estimate
        assert rows and all(not row.has_interval or row.low <= row.mean <= row.high for row in rows)


def test_report_compares_against_the_image_only_baseline(demo):
    report = json.loads((demo / "report" / "report.json").read_text())
    assert report["baseline"] == "image-only"
    labels = {encoder["label"] for encoder in report["encoders"]}
    assert {"dynaflip", "image-only", "oracle (state)", "blind"} <= labels and len(labels) == 5
    assert {"probe", "policy"} <= set(report["kinds"])
    assert "latency" not in report  # demo-ci.yaml turns the latency timing off
    markdown = (demo / "report" / "report.md").read_text()
    assert "dynaflip" in markdown and "image-only" in markdown
    roles = {encoder["label"]: encoder.get("role") for encoder in report["encoders"]}
    assert roles["oracle (state)"] == "ceiling" and roles["blind"] == "floor" and not roles["dynaflip"]
    assert "| oracle (state) | calibration: ceiling |" in markdown and "| blind | calibration: floor |" in markdown
    # demo-ci.yaml evaluates the camera shift only: the report names the shifts it skipped.
    assert "Policy shifts evaluated: camera; not evaluated in this run: lighting, table, distractors, occlusion" in (
        markdown
    )
    for figure in ("loss_curves.png", "id_vs_ood.png", "ood_gain.png"):
        assert (demo / "report" / figure).read_bytes()[:8] == PNG
