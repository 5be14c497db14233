"""An export folder written by a newer (or unknown) format is refused with one line naming the file and both
versions, by ``dynaflip.load`` and by the exporter's verifier alike."""

import json

import pytest

import dynaflip
from dynaflip.hub.format import FORMAT_VERSION, ExportFormatError
from dynaflip.hub.verify import verify_export_folder
from tests.helpers.hub_checkpoint import isolate_hub_env, make_export


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, None, "1"])
def test_an_export_of_another_format_version_is_refused(tmp_path, monkeypatch, version):
    isolate_hub_env(monkeypatch, tmp_path / "cache")
    folder = make_export(tmp_path / "export")
    dynaflip.load(folder)  # the folder as written loads
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    if version is None:
        del config["format_version"]
    else:
        config["format_version"] = version
    config_path.write_text(json.dumps(config))
    for load in (dynaflip.load, verify_export_folder):
        with pytest.raises(ExportFormatError) as error:
            load(folder)
        message = str(error.value)
        assert message.startswith(f"{config_path}: field 'format_version'") and len(message.splitlines()) == 1
        assert f"reads export format_version {FORMAT_VERSION}, the file has {version!r}" in message
