"""Package layout: the stage folders `extract/`, `train/` and `eval/` live at the top of the repository
but install as `dynaflip.extract`, `dynaflip.train` and `dynaflip.eval` (metadata is in pyproject.toml).

The subpackages are discovered here rather than listed, so a new folder inside a stage is never
silently left out of the wheel.
"""

from setuptools import find_packages, setup

STAGES = ("extract", "train", "eval")

packages = find_packages(include=["dynaflip", "dynaflip.*"])
package_dir = {"dynaflip": "dynaflip"}
for stage in STAGES:
    package_dir[f"dynaflip.{stage}"] = stage
    packages.append(f"dynaflip.{stage}")
    packages += [f"dynaflip.{stage}.{sub}" for sub in find_packages(stage)]

setup(packages=packages, package_dir=package_dir)
