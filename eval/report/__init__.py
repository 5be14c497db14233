"""The comparison report: results.json files of several encoders (probe and policy) in one place.

:mod:`.collect` (find and group result files), :mod:`.summary` (one number per split, OOD mean, normalised
scores), :mod:`.gains` (differences to a baseline with paired or combined intervals), :mod:`.latency`
(forward latency on this machine), :mod:`.markdown` and :mod:`.plots` (outputs), :mod:`.build` (the whole).
The command line is ``dynaflip-report`` (:mod:`dynaflip.eval.report_cli`).
"""

from .build import build_report
from .collect import EncoderResults, ResultFile, collect, find_result_files
from .gains import Gain, gain
from .latency import measure_latencies, time_features
from .summary import Cell, MetricTable, metric_tables

__all__ = [
    "Cell",
    "EncoderResults",
    "Gain",
    "MetricTable",
    "ResultFile",
    "build_report",
    "collect",
    "find_result_files",
    "gain",
    "measure_latencies",
    "metric_tables",
    "time_features",
]
