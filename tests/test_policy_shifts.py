"""OOD shifts are render-only: the scripted expert, rolled out by the evaluation's own workers with every
frame rendered under the shift, succeeds exactly as in distribution (same steps, same success step)."""

import pytest

pytest.importorskip("mujoco")
pytest.importorskip("metaworld")

from dynaflip.eval.policy import ID_SPLIT, RolloutJob, WorkerPool, WorkerSettings, rollout_job
from dynaflip.sim import SHIFTS
from tests.helpers.policy_settings import SIZE, TASK

EPISODE_SEED = 10_000  # the first evaluation seed of the configs


def test_each_shift_leaves_the_expert_successful():
    splits = [ID_SPLIT, *sorted(SHIFTS)]
    jobs = [
        RolloutJob(
            task=TASK,
            split=split,
            episode_seed=EPISODE_SEED,
            camera="corner",
            image_size=(SIZE, SIZE),
            horizon=100,
            policy_path=None,  # the scripted expert
        )
        for split in splits
    ]
    with WorkerPool(workers=2, settings=WorkerSettings()) as pool:
        records = {record.split: record for record in pool.run(rollout_job, jobs)}
    assert set(records) == set(splits)
    reference = records[ID_SPLIT]
    assert reference.success and reference.steps < 100
    for split, record in records.items():
        assert record.success, f"the expert failed under the {split} shift"
        assert record.success_step == reference.success_step, split  # physics is untouched by the shift
        assert record.task == TASK and record.episode_seed == EPISODE_SEED and record.policy_seed == -1
