"""The whole path as one resumable run of the stage CLIs: the demo (``dynaflip-demo``) and the CPU study
(``dynaflip-study``). Imports no stage: each step is a subprocess."""

from .config import Arm, PipelineConfig
from .run import run_pipeline

__all__ = ["Arm", "PipelineConfig", "run_pipeline"]
