"""The comparison report: results.json files of several encoders (probe and policy) in one place.

:mod:`.collect` (find and group result files, with the episodes.json beside a probe result),
:mod:`.episodes` (the rollouts.jsonl beside a policy result),
:mod:`.policy` (policy success from the episodes: hierarchical bootstrap, IQM, probability of improvement,
the calibration rows' range), :mod:`.summary` (one number per split, OOD mean, normalised scores),
:mod:`.gains` (differences to a baseline; probe gains paired over test episodes and probe seeds),
:mod:`.detectable` (the smallest detectable difference; the
command is :mod:`.power`), :mod:`.latency` (forward latency on this machine), :mod:`.markdown` and :mod:`.plots`
(outputs), :mod:`.build` (the whole).
The command line is ``dynaflip-report`` (:mod:`dynaflip.eval.report_cli`).
"""

from .build import build_report
from .collect import EncoderResults, ResultFile, collect, find_result_files
from .detectable import PowerRow, power_rows
from .gains import Gain, gain
from .latency import measure_latencies, time_features
from .policy import PolicyStatistics, policy_statistics
from .summary import Cell, MetricTable, metric_tables

__all__ = [
    "Cell",
    "EncoderResults",
    "Gain",
    "MetricTable",
    "PolicyStatistics",
    "PowerRow",
    "ResultFile",
    "build_report",
    "collect",
    "find_result_files",
    "gain",
    "measure_latencies",
    "metric_tables",
    "policy_statistics",
    "power_rows",
    "time_features",
]
