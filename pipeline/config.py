"""What a pipeline run (the demo, a study) does, as one validated dataclass loaded from YAML.

A run is: simulated robot videos -> triplet shards -> one encoder per (arm, pre-training seed) -> probes and
policy transfer for every encoder, the untrained floor, the policy instrument's calibration rows and any
extra (e.g. shipped) encoders -> a report. ``configs/demo.yaml`` (this machine, 20 minutes),
``configs/demo-ci.yaml`` (the test's size), ``configs/study/cpu.yaml`` (the CPU study) and
``configs/paper.yaml`` (the paper's scale) are instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dynaflip.config import ConfigError


@dataclass
class DataStep:
    """Pre-training data: Meta-World scripted-expert episodes of ``tasks``, extracted to triplet shards."""

    tasks: list[str] = field(default_factory=lambda: ["button-press-topdown-v3", "sweep-into-v3", "pick-place-v3"])
    episodes_per_task: int = 8
    image_size: int = 128
    extract_overrides: list[str] = field(default_factory=list)
    workers: int = 2
    first_seed: int | None = None  # first episode seed of the pre-training videos (None: the extractor's default)
    # An existing extraction output to pre-train on instead of extracting: a local folder or a URL prefix
    # (s3://bucket/prefix, gs://, https://, any fsspec URL), streamed as dynaflip-train streams it.
    shards: str | None = None


@dataclass
class Arm:
    """One pre-training recipe: the shared recipe plus ``overrides``, trained once per seed in ``seeds``.

    Runs are named ``<name>`` for a single seed and ``<name>-s<seed>`` for several."""

    name: str
    overrides: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])

    def run_names(self) -> dict[int, str]:
        if len(self.seeds) == 1:
            return {self.seeds[0]: self.name}
        return {seed: f"{self.name}-s{seed}" for seed in self.seeds}


def _default_arms() -> list[Arm]:
    return [
        Arm(name="dynaflip"),
        Arm(name="image-only", overrides=["objective.modalities=[image]", "objective.lambda_act=0"]),
    ]


@dataclass
class TrainStep:
    recipe: str = "configs/train/tiny-cpu.yaml"
    steps: int = 300
    # How the trainer starts: empty for one process; e.g. [torchrun, --nproc_per_node, "8"] on a GPU node.
    launcher: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)  # applied to every arm, before the arm's own


@dataclass
class ProbeStep:
    # Probe tasks; empty = the pre-training tasks (in-domain). A transfer study names held-out tasks.
    tasks: list[str] = field(default_factory=list)
    episodes_per_task: int = 6
    val_episodes: int = 1
    test_episodes: int = 2
    frames_per_episode: int = 8
    image_size: int = 128
    seeds: int = 3
    workers: int = 2
    build_options: list[str] = field(default_factory=list)  # extra `dynaflip-probe build-data` options
    run_options: list[str] = field(default_factory=list)  # extra `dynaflip-probe run` options, e.g. --device


@dataclass
class PolicyStep:
    config: str = "configs/eval/policy-quick.yaml"
    overrides: list[str] = field(default_factory=list)
    # The instrument's ceiling and floor, evaluated through the same behaviour cloning as the encoders.
    calibration: list[str] = field(default_factory=list)


@dataclass
class PublishItem:
    """A trained run shipped as a registry entry (see :mod:`dynaflip.pipeline.publish`)."""

    run: str
    name: str
    tag: str
    data: str = "Triplets extracted from simulated Meta-World v3 scripted-expert episodes."
    notes: str = ""


@dataclass
class PipelineConfig:
    output_dir: str = "outputs/demo"
    data: DataStep = field(default_factory=DataStep)
    train: TrainStep = field(default_factory=TrainStep)
    arms: list[Arm] = field(default_factory=_default_arms)
    probe: ProbeStep = field(default_factory=ProbeStep)
    policy: PolicyStep = field(default_factory=PolicyStep)
    # The untrained reference: the trained models' architecture with random weights.
    random_encoder: str = "random:vit_tiny_patch16_224?img_size=64&patch_size=8&depth=6"
    # Encoders evaluated beside the trained ones, by name: e.g. {"shipped-dynaflip": "dynaflip-tiny-sim@study"}.
    extra_encoders: dict[str, str] = field(default_factory=dict)
    baseline: str = "image-only"  # the report compares every encoder against this one (a run or arm name)
    latency: bool = True
    publish: list[PublishItem] = field(default_factory=list)  # runs shipped as registry entries at the end

    def __post_init__(self) -> None:
        names = [arm.name for arm in self.arms]
        if not names:
            raise ConfigError("arms: expected at least one pre-training arm")
        if len(set(names)) != len(names):
            raise ConfigError(f"arms: each arm name once, got {names}")
        for arm in self.arms:
            if not arm.seeds or len(set(arm.seeds)) != len(arm.seeds):
                raise ConfigError(f"arms.{arm.name}.seeds: expected distinct seeds, at least one, got {arm.seeds}")
        runs = self.run_names()
        reserved = {"random", *self.extra_encoders, *(calibration_name(spec) for spec in self.policy.calibration)}
        clash = reserved & set(runs)
        if clash:
            raise ConfigError(f"arms: run names {sorted(clash)} clash with the random, extra or calibration encoders")
        for item in self.publish:
            if item.run not in runs:
                raise ConfigError(f"publish: run '{item.run}' is not one of the runs {list(runs)}")
        if self.baseline not in runs and self.baseline not in names:
            raise ConfigError(f"baseline: expected an arm or run name ({', '.join(runs)}), got {self.baseline!r}")

    def run_names(self) -> dict[str, tuple[Arm, int]]:
        """Every training run: name -> (arm, seed), in config order."""
        return {name: (arm, seed) for arm in self.arms for seed, name in arm.run_names().items()}

    def baseline_run(self) -> str:
        """The run the report compares against: the named run, or the first seed of the named arm."""
        runs = self.run_names()
        if self.baseline in runs:
            return self.baseline
        return next(name for name, (arm, _) in runs.items() if arm.name == self.baseline)


def calibration_name(spec: str) -> str:
    """Result-folder name of a calibration spec: 'oracle:state' -> 'oracle-state'."""
    return spec.replace(":", "-")
