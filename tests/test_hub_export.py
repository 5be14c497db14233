"""dynaflip-export: checkpoint -> export folder -> load round trip, the model card, and the push path."""

import json

import huggingface_hub.constants
import pytest
import torch

import dynaflip
from dynaflip.hub.errors import ChecksumError, PushError
from dynaflip.hub.export_cli import main
from dynaflip.hub.push import push_folder
from dynaflip.hub.verify import verify_export_folder
from tests.helpers.hub_checkpoint import (
    checkpoint_encoder,
    features,
    isolate_hub_env,
    make_checkpoint,
    make_run,
)
from tests.helpers.hub_server import HubServer


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path):
    return isolate_hub_env(monkeypatch, tmp_path / "cache")


def test_export_then_load_gives_the_checkpoint_encoder(tmp_path, capsys):
    run = make_run(tmp_path / "run", seed=3)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"metaworld": {"success": 0.71}}))
    out = tmp_path / "export"
    assert main([str(run), str(out), "--name", "tiny-test", "--license", "mit", "--evaluation", str(results)]) == 0
    assert f"exported {out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]

    encoder, preprocess = dynaflip.load(out)
    reference = checkpoint_encoder(run / "checkpoints" / "step-3")
    assert torch.equal(features(encoder), features(reference))
    assert (preprocess.size, preprocess.mean) == (32, (0.5, 0.5, 0.5))

    config = json.loads((out / "config.json").read_text())
    assert config["training"]["steps"] == 3 and config["training"]["samples_seen"] == 12
    assert config["name"] == "tiny-test" and config["license"] == "mit"
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: mit\n") and "# tiny-test" in card
    assert '"success": 0.71' in card and "## Evaluation" in card


def test_markdown_evaluations_go_into_the_card_as_written(tmp_path):
    checkpoint = make_checkpoint(tmp_path / "checkpoint")
    results = tmp_path / "results.md"
    results.write_text("| task | success |\n| --- | --- |\n| reach | 0.9 |\n")
    assert main([str(checkpoint), str(tmp_path / "out"), "--evaluation", str(results)]) == 0
    assert "| reach | 0.9 |" in (tmp_path / "out" / "README.md").read_text()


def test_push_offline_fails_with_one_clear_line_and_keeps_the_export(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "export"
    code = main([str(make_run(tmp_path / "run")), str(out), "--push", "dynaflip/tiny-test", "--private"])
    assert code != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("dynaflip-export: error: cannot push") and "offline mode is on (HF_HUB_OFFLINE=1)" in err
    config = verify_export_folder(out, require_card=True)
    assert config["load_name"] == "hf-hub:dynaflip/tiny-test" and config["name"] == "tiny-test"
    assert 'dynaflip.load("hf-hub:dynaflip/tiny-test")' in (out / "README.md").read_text()


def test_push_reaches_the_hub_api_and_reports_its_refusal_in_one_line(tmp_path, monkeypatch):
    # huggingface_hub reads HF_HUB_OFFLINE once at import, when conftest had set it: mirror the unset variable.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    out = tmp_path / "export"
    assert main([str(make_checkpoint(tmp_path / "checkpoint")), str(out)]) == 0
    with HubServer(tmp_path) as hub, pytest.raises(PushError) as error:
        push_folder(out, "dynaflip/tiny-test", private=True, token="hf_test", endpoint=hub.url)
    (request,) = [r for r in hub.requests if r.method == "POST"]
    assert request.path == "/api/repos/create"
    body = json.loads(request.body)
    assert (body["organization"], body["name"], body["visibility"]) == ("dynaflip", "tiny-test", "private")
    message = str(error.value)
    assert "\n" not in message and "hf-hub:dynaflip/tiny-test" in message and "401" in message


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert main([str(tmp_path / "missing"), str(tmp_path / "out")]) == 1
    assert "neither a checkpoint" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main([str(make_checkpoint(tmp_path / "checkpoint")), str(out), "--push", "not a repo"]) == 1
    assert "expected a Hugging Face repository id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path), str(out), "--private"])
    (out / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match=r"config\.json says"):
        push_folder(out, "org/repo")
