"""The stages import only the ``dynaflip`` library, never each other (the layout users were promised); the
pipeline that drives the demo and the study is a stage too (it runs the others as subprocesses), and the
library imports no stage."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = ("extract", "train", "eval", "pipeline")


def _imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports, relative imports resolved against ``package``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                names.add(f"{base}.{node.module}" if node.module else base)
            else:
                names.add(node.module or "")
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_no_other_stage(stage):
    others = [other for other in STAGES if other != stage]
    forbidden = tuple(f"dynaflip.{other}" for other in others) + tuple(others)
    offenders = []
    for path in sorted((REPO / stage).rglob("*.py")):
        relative = path.relative_to(REPO).with_suffix("")
        package = ".".join(("dynaflip", *relative.parts[:-1]))
        for name in _imported_modules(path, package):
            if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders


def test_the_library_imports_no_stage():
    forbidden = tuple(f"dynaflip.{stage}" for stage in STAGES)
    offenders = []
    for path in sorted((REPO / "dynaflip").rglob("*.py")):
        package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
        for name in _imported_modules(path, package):
            if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders


def test_every_stage_installs_as_a_dynaflip_subpackage():
    import importlib.util

    for stage in STAGES:
        spec = importlib.util.find_spec(f"dynaflip.{stage}")
        assert spec is not None and Path(spec.origin).parent == REPO / stage, stage


def test_the_checker_sees_relative_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from ..train import cli\nfrom . import data\nimport dynaflip.eval.stats\n")
    names = _imported_modules(module, "dynaflip.extract.sources")
    assert names == {"dynaflip.extract.train", "dynaflip.extract.sources", "dynaflip.eval.stats"}


# The batch and the model-to-loss call have one owner, the library (dynaflip/batch.py, dynaflip/step.py); the
# loader's collate (train/data.py) is the one other place that builds a batch. Anything else typing them out
# again (a bench, a test) would measure or check something other than what trains.
BATCH_BUILDERS = ("train/data.py",)


def _hand_typed_batch_code(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Dict):
            keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
            if {"points3d", "clip_ids"} <= keys:  # a schema field table names points3d, never clip_ids
                found.append(f"{path.name}:{node.lineno} builds a batch as a dict (use dynaflip.batch.Batch)")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        callee = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        keywords = {keyword.arg for keyword in node.keywords}
        if callee in ("Batch", "MicroBatch"):
            found.append(f"{path.name}:{node.lineno} constructs a {callee} by hand (synthetic_batch, collate, .rows)")
        elif "points3d_valid" in keywords and callee != "Triplet":
            found.append(f"{path.name}:{node.lineno} calls the model on batch fields by hand (dynaflip.step.forward)")
        elif keywords == {"text_ids", "clip_ids"} and callee != "compute_loss":
            found.append(f"{path.name}:{node.lineno} calls the loss by hand (dynaflip.step.forward_and_loss)")
    return found


def test_batches_and_the_step_are_built_only_through_the_library():
    offenders = []
    for folder in (*STAGES, "tests", "bench", "scripts"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if str(path.relative_to(REPO)) not in BATCH_BUILDERS:
                offenders += _hand_typed_batch_code(path)
    assert not offenders, offenders


def test_the_batch_checker_sees_hand_typed_batches_and_steps(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "batch = {'frames': f, 'points3d': p, 'clip_ids': c}\n"
        "micro = MicroBatch(frames=f)\n"
        "outputs = model(f, points3d=p, points3d_valid=v, text_embedding=t)\n"
        "result = loss_fn(outputs, text_ids=t, clip_ids=c)\n"
        "fine = compute_loss(loss_fn, outputs, text_ids=t, clip_ids=c)\n"
        "triplet = Triplet(points3d=p, points3d_valid=v)\n"
    )
    found = [line.split(" ", 1)[0] for line in _hand_typed_batch_code(module)]
    assert found == ["m.py:1", "m.py:2", "m.py:3", "m.py:4"]
