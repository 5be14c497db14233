"""The Meta-World v3 task catalogue as data: instruction, main object and difficulty of every task.

Difficulty groups follow Seo et al., "Masked World Models for Visual Control" (2022), the grouping Lift3D
and later work use (28 easy, 11 medium, 6 hard, 5 very hard). ``TASK_SUITE`` is this project's 15-task
evaluation suite (7 easy, 5 medium, 2 hard, 1 very hard); ``QUICK_SUITE`` three fast tasks of it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

DIFFICULTIES = ("easy", "medium", "hard", "very hard")


@dataclass(frozen=True)
class TaskSpec:
    """One Meta-World v3 task.

    ``main_object`` names the MuJoCo body whose pose is the task's "object" label: a body name, or
    ``"geom:NAME"`` / ``"joint:NAME"`` for the body holding that geom / joint where the body itself is
    unnamed. None for reach-like tasks, where the goal is the object.
    """

    name: str
    instruction: str
    difficulty: str
    main_object: str | None


def _spec(name: str, difficulty: str, main_object: str | None, instruction: str) -> TaskSpec:
    return TaskSpec(name=name, instruction=instruction, difficulty=difficulty, main_object=main_object)


_EASY, _MEDIUM, _HARD, _VERY_HARD = DIFFICULTIES

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _spec("assembly-v3", _HARD, "RoundNut", "pick up the nut and place it onto the peg"),
        _spec("basketball-v3", _MEDIUM, "bsktball", "pick up the basketball and dunk it into the hoop"),
        _spec("bin-picking-v3", _MEDIUM, "obj", "pick up the block from the left bin and put it in the right bin"),
        _spec("box-close-v3", _MEDIUM, "boxbodytop", "pick up the lid and put it on the box"),
        _spec("button-press-topdown-v3", _EASY, "button", "press the button down from the top"),
        _spec("button-press-topdown-wall-v3", _EASY, "button", "press the button down from the top behind the wall"),
        _spec("button-press-v3", _EASY, "button", "push the button in from the front"),
        _spec("button-press-wall-v3", _EASY, "button", "reach past the wall and push the button in"),
        _spec("coffee-button-v3", _EASY, "cmbutton", "press the button on the coffee machine"),
        _spec("coffee-pull-v3", _MEDIUM, "obj", "pull the mug out from under the coffee machine"),
        _spec("coffee-push-v3", _MEDIUM, "obj", "push the mug under the coffee machine"),
        _spec("dial-turn-v3", _EASY, "joint:knob_Joint_1", "turn the dial half a turn"),
        _spec("disassemble-v3", _VERY_HARD, "RoundNut", "pick the nut up off the peg"),
        _spec("door-close-v3", _EASY, "door_link", "push the door closed"),
        _spec("door-lock-v3", _EASY, "lock_link", "turn the lock down to lock the door"),
        _spec("door-open-v3", _EASY, "door_link", "pull the door open by its handle"),
        _spec("door-unlock-v3", _EASY, "lock_link", "turn the lock to unlock the door"),
        _spec("drawer-close-v3", _EASY, "drawer_link", "push the drawer closed"),
        _spec("drawer-open-v3", _EASY, "drawer_link", "pull the drawer open by its handle"),
        _spec("faucet-close-v3", _EASY, "faucet_link2", "turn the faucet handle to close the faucet"),
        _spec("faucet-open-v3", _EASY, "faucet_link2", "turn the faucet handle to open the faucet"),
        _spec("hammer-v3", _MEDIUM, "hammerbody", "pick up the hammer and hammer the nail into the wall"),
        _spec("hand-insert-v3", _HARD, "obj", "push the block into the hole in the table"),
        _spec("handle-press-side-v3", _EASY, "handle_link", "press the handle down from the side"),
        _spec("handle-press-v3", _EASY, "handle_link", "press the handle down"),
        _spec("handle-pull-side-v3", _EASY, "handle_link", "pull the handle up from the side"),
        _spec("handle-pull-v3", _EASY, "handle_link", "pull the handle up"),
        _spec("lever-pull-v3", _EASY, "lever_link1", "pull the lever up"),
        _spec("peg-insert-side-v3", _MEDIUM, "peg", "pick up the peg and insert it sideways into the hole"),
        _spec("peg-unplug-side-v3", _EASY, "plug1", "pull the peg sideways out of the socket"),
        _spec("pick-out-of-hole-v3", _HARD, "obj", "pick the puck up out of the hole"),
        _spec("pick-place-v3", _HARD, "obj", "pick up the puck and place it at the goal"),
        _spec(
            "pick-place-wall-v3", _VERY_HARD, "obj", "pick up the puck, lift it over the wall and place it at the goal"
        ),
        _spec("plate-slide-back-side-v3", _EASY, "geom:puck", "slide the plate sideways out of the cabinet"),
        _spec("plate-slide-back-v3", _EASY, "geom:puck", "slide the plate back out of the cabinet"),
        _spec("plate-slide-side-v3", _EASY, "geom:puck", "slide the plate sideways into the cabinet"),
        _spec("plate-slide-v3", _EASY, "geom:puck", "slide the plate into the cabinet"),
        _spec("push-back-v3", _HARD, "obj", "pull the puck back to the goal"),
        _spec("push-v3", _HARD, "obj", "push the puck to the goal"),
        _spec("push-wall-v3", _MEDIUM, "obj", "push the puck around the wall to the goal"),
        _spec("reach-v3", _EASY, None, "reach to the goal position"),
        _spec("reach-wall-v3", _EASY, None, "reach over the wall to the goal position"),
        _spec("shelf-place-v3", _VERY_HARD, "obj", "pick up the puck and place it on the shelf"),
        _spec("soccer-v3", _MEDIUM, "soccer_ball", "kick the soccer ball into the goal"),
        _spec("stick-pull-v3", _VERY_HARD, "stick", "grasp the stick and pull the thermos to the goal with it"),
        _spec("stick-push-v3", _VERY_HARD, "stick", "grasp the stick and push the thermos to the goal with it"),
        _spec("sweep-into-v3", _MEDIUM, "obj", "sweep the puck into the hole"),
        _spec("sweep-v3", _MEDIUM, "obj", "sweep the puck off the edge of the table"),
        _spec("window-close-v3", _EASY, "windowb_a", "slide the window closed"),
        _spec("window-open-v3", _EASY, "windowb_a", "slide the window open"),
    )
}

TASK_SUITE: tuple[str, ...] = (
    # easy (7)
    "button-press-topdown-v3",
    "door-open-v3",
    "drawer-close-v3",
    "drawer-open-v3",
    "faucet-open-v3",
    "reach-v3",
    "window-open-v3",
    # medium (5)
    "basketball-v3",
    "box-close-v3",
    "coffee-pull-v3",
    "hammer-v3",
    "sweep-into-v3",
    # hard (2)
    "assembly-v3",
    "pick-place-v3",
    # very hard (1)
    "shelf-place-v3",
)

# One easy, one medium, one hard task whose experts succeed within about 65 steps.
QUICK_SUITE: tuple[str, ...] = ("button-press-topdown-v3", "sweep-into-v3", "pick-place-v3")


def get_task(name: str) -> TaskSpec:
    """The catalogue entry of ``name``; an unknown name raises ValueError listing close matches."""
    if name in TASKS:
        return TASKS[name]
    matches = difflib.get_close_matches(str(name), list(TASKS), n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(matches)}?" if matches else f"; known tasks: {', '.join(sorted(TASKS))}"
    raise ValueError(f"task: expected a Meta-World v3 task name, got {name!r}{hint}")


def tasks_by_difficulty(difficulty: str) -> list[str]:
    """Names of all catalogue tasks in one difficulty group."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty: expected one of {DIFFICULTIES}, got {difficulty!r}")
    return sorted(name for name, spec in TASKS.items() if spec.difficulty == difficulty)


def expert_policy(name: str) -> Any:
    """A new instance of Meta-World's scripted expert for ``name`` (``metaworld.policies.ENV_POLICY_MAP``).

    Its ``get_action(obs)`` maps the 39-d goal-observable observation to a 4-d action in [-1, 1].
    """
    get_task(name)
    from .backend import import_metaworld

    import_metaworld()
    from metaworld.policies import ENV_POLICY_MAP

    if name not in ENV_POLICY_MAP:
        raise ValueError(f"task: Meta-World ships no scripted expert for {name!r}")
    return ENV_POLICY_MAP[name]()
