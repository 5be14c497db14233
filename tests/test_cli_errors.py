"""Every CLI turns the project's own errors (``dynaflip.errors.USER_ERRORS``) into one line and an exit status,
and lets anything else, such as a CUDA out-of-memory ``RuntimeError`` deep inside a run, keep its traceback.

Each case injects the error into the real function the command calls at that point (the rest of the command,
argument parsing and config loading included, runs for real), once as a project error and once as the
RuntimeError torch raises when the GPU is full."""

from collections.abc import Callable
from pathlib import Path

import pytest

from dynaflip.config import ConfigError
from dynaflip.errors import DynaflipError
from tests.helpers.policy_settings import QUICK_CONFIG

REPO = Path(__file__).resolve().parents[1]
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"


class ProjectError(DynaflipError):
    """Stands for any error the project raises for a user to read."""


def raiser(error: BaseException) -> Callable[..., object]:
    def fail(*args: object, **kwargs: object) -> object:
        raise error

    return fail


def _extract(monkeypatch, tmp_path, error):
    import dynaflip.sim
    from dynaflip.extract.cli import main

    monkeypatch.setattr(dynaflip.sim, "generate_episodes", raiser(error))
    return main(["metaworld", "--out", str(tmp_path / "out"), "--tasks", "reach-v3", "--episodes-per-task", "1"])


def _probe_build(monkeypatch, tmp_path, error):
    import dynaflip.eval.probe
    from dynaflip.eval.probe_cli import main

    monkeypatch.setattr(dynaflip.eval.probe, "build_probe_dataset", raiser(error))
    return main(["build-data", "--out", str(tmp_path / "probe"), "--tasks", "reach-v3", "--no-progress"])


def _policy_run(monkeypatch, tmp_path, error):
    import dynaflip.eval.policy
    import dynaflip.eval.policy.features
    from dynaflip.eval.policy_cli import main

    monkeypatch.setattr(dynaflip.eval.policy.features, "open_encoder", lambda spec, **_: object())
    monkeypatch.setattr(dynaflip.eval.policy, "run_policy_eval", raiser(error))
    return main(["run", "--encoder", "blind", "--out", str(tmp_path / "out"), "--config", QUICK_CONFIG])


def _policy_calibrate(monkeypatch, tmp_path, error):
    import dynaflip.eval.policy.calibrate
    from dynaflip.eval.policy_cli import main

    monkeypatch.setattr(dynaflip.eval.policy.calibrate, "calibrate", raiser(error))
    config = str(REPO / "configs" / "eval" / "calibrate-quick.yaml")
    return main(["calibrate", "--out", str(tmp_path / "out"), "--config", config])


def _train(monkeypatch, tmp_path, error):
    import dynaflip.train.trainer
    from dynaflip.train.cli import main

    monkeypatch.setattr(dynaflip.train.trainer, "train", raiser(error))
    recipe = str(REPO / "configs" / "train" / "tiny-cpu.yaml")
    return main(["--config", recipe, f"runtime.output_dir={tmp_path / 'run'}"])


def _report(monkeypatch, tmp_path, error):
    import dynaflip.eval.report
    from dynaflip.eval.report_cli import main

    monkeypatch.setattr(dynaflip.eval.report, "build_report", raiser(error))
    return main([str(tmp_path), "--out", str(tmp_path / "report")])


def _export(monkeypatch, tmp_path, error):
    import dynaflip.hub.export_cli

    monkeypatch.setattr(dynaflip.hub.export_cli, "export_checkpoint", raiser(error))
    return dynaflip.hub.export_cli.main([str(tmp_path / "run"), str(tmp_path / "export")])


def _demo(monkeypatch, tmp_path, error):
    import dynaflip.pipeline.demo

    monkeypatch.setattr(dynaflip.pipeline.demo, "run_pipeline", raiser(error))
    return dynaflip.pipeline.demo.main(["--config", "configs/demo-ci.yaml", f"output_dir={tmp_path / 'demo'}"])


def _publish(monkeypatch, tmp_path, error):
    import dynaflip.pipeline.publish

    monkeypatch.setattr(dynaflip.pipeline.publish, "publish", raiser(error))
    return dynaflip.pipeline.publish.main([str(tmp_path / "study")])


# command -> (how to run it with an injected error, its exit status for a project error)
COMMANDS = {
    "dynaflip-extract": (_extract, 2),
    "dynaflip-probe build-data": (_probe_build, 2),
    "dynaflip-policy run": (_policy_run, 2),
    "dynaflip-policy calibrate": (_policy_calibrate, 2),
    "dynaflip-train": (_train, 2),
    "dynaflip-report": (_report, 2),
    "dynaflip-export": (_export, 1),
    "dynaflip-demo": (_demo, 2),
    "python -m dynaflip.pipeline.publish": (_publish, 2),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_project_error_is_one_line_and_an_exit_status(command, monkeypatch, tmp_path, capsys):
    run, status = COMMANDS[command]
    assert run(monkeypatch, tmp_path, ProjectError("data/x.json: field 'y': expected z")) == status
    err = capsys.readouterr().err.strip()
    assert "data/x.json: field 'y': expected z" in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_out_of_memory_runtime_error_keeps_its_traceback(command, monkeypatch, tmp_path, capsys):
    run, _ = COMMANDS[command]
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        run(monkeypatch, tmp_path, RuntimeError(OOM))
    assert "error:" not in capsys.readouterr().err  # nothing printed it as a user error


def test_config_errors_stay_user_errors(monkeypatch, tmp_path, capsys):
    # ConfigError is both a ValueError (for older callers) and a project error.
    assert issubclass(ConfigError, DynaflipError) and issubclass(ConfigError, ValueError)
    assert _train(monkeypatch, tmp_path, ConfigError("'optim.lr': expected a number")) == 2


def test_the_probe_names_an_encoder_that_fails_to_load_but_not_an_out_of_memory(monkeypatch):
    import dynaflip.eval.encoders
    from dynaflip.eval.encoders import EncoderSpecError
    from dynaflip.eval.probe_cli import _load_encoder

    monkeypatch.setattr(dynaflip.eval.encoders, "load_eval_encoder", raiser(OSError("weights.pth: no such file")))
    with pytest.raises(EncoderSpecError, match=r"encoder 'timm:x': weights\.pth: no such file"):
        _load_encoder("timm:x", last_n=1)
    monkeypatch.setattr(dynaflip.eval.encoders, "load_eval_encoder", raiser(RuntimeError(OOM)))
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        _load_encoder("timm:x", last_n=1)
