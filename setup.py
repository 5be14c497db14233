"""Package layout: the stage folders `extract/`, `train/`, `eval/` and `pipeline/` live at the top of the
repository but install as `dynaflip.extract`, `dynaflip.train`, `dynaflip.eval` and `dynaflip.pipeline`, and the
shipped recipes in `configs/` install as the package data of `dynaflip.configs` (metadata is in pyproject.toml).

The subpackages are discovered here rather than listed, so a new folder inside a stage is never
silently left out of the wheel.
"""

from setuptools import find_packages, setup

STAGES = ("extract", "train", "eval", "pipeline")

packages = find_packages(include=["dynaflip", "dynaflip.*"])
package_dir = {"dynaflip": "dynaflip"}
for stage in STAGES:
    package_dir[f"dynaflip.{stage}"] = stage
    packages.append(f"dynaflip.{stage}")
    packages += [f"dynaflip.{stage}.{sub}" for sub in find_packages(stage)]
# The recipes (YAML/JSON in configs/ and its subfolders) ship as data, so dynaflip-demo and dynaflip-study run
# from an installed wheel; the patterns are in pyproject.toml's package-data.
package_dir["dynaflip.configs"] = "configs"
packages.append("dynaflip.configs")

setup(packages=packages, package_dir=package_dir)
