"""Sleep staging as Oura reports it: 30-second stages first, the 5-minute string their summary.

Oura stages a sleep period in 30-second epochs and computes the stage durations from
them; `sleep_phase_5_min` shows, for each ten 30-second epochs, the stage most of them
are in (a tie goes to the one met first). Stage changes seldom fall on a 5-minute edge
and brief awakenings hide inside an epoch, so a stage's 5-minute epochs x 300 s and its
duration disagree by a few minutes, as in real documents. The 30-second string is what
`sleep_phase_30_sec` carries in newer documents.
"""

from __future__ import annotations

from random import Random

SUBEPOCH = 30  # seconds of one 30-second epoch
PER_EPOCH = 10  # 30-second epochs in a 5-minute epoch
_INNER_SHIFTS = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)  # 30-second epochs a stage change moves
SHIFTED_CHANGES = 0.3  # share of stage changes that fall inside a 5-minute epoch
AWAKENINGS_PER_HOUR = 0.3  # brief awakenings (30 to 90 s) inside sleep


def staging(rng: Random, plan: str, length: int) -> str:
    """The 30-second stages of a period from its stage plan on the 5-minute grid.

    Args:
        rng: the period's random stream.
        plan: one stage code per 5-minute epoch (`1` deep, `2` light, `3` REM, `4` awake),
            starting and ending awake.
        length: 30-second epochs in the period (`ceil(time_in_bed / 30)`).

    Returns:
        `length` stage codes: the plan with some stage changes moved inside an epoch and a
        few brief awakenings; never without sleep when the plan has some.
    """
    stages = [stage for stage in plan for _ in range(PER_EPOCH)][:length]
    # The last epoch (truncated at bedtime end) keeps its stage: the period ends as planned.
    for i in range(1, len(plan) - 1):
        before, after = plan[i - 1], plan[i]
        if before == after or rng.random() >= SHIFTED_CHANGES:
            continue
        shift = rng.choice(_INNER_SHIFTS)
        edge = i * PER_EPOCH
        span = range(edge, edge + shift) if shift > 0 else range(edge + shift, edge)
        for j in span:
            stages[j] = before if shift > 0 else after
    chance = AWAKENINGS_PER_HOUR * PER_EPOCH * SUBEPOCH / 3600
    for i, stage in enumerate(plan[:-1]):
        if stage != "4" and rng.random() < chance:
            start = i * PER_EPOCH + rng.randrange(PER_EPOCH)
            for j in range(start, min(start + rng.randint(1, 3), length)):
                stages[j] = "4"
    if all(s == "4" for s in stages) and any(s != "4" for s in plan):
        return "".join(stage for stage in plan for _ in range(PER_EPOCH))[:length]
    return "".join(stages)


def five_minute_summary(stages: str) -> str:
    """`sleep_phase_5_min` of 30-second stages: each ten epochs' most frequent stage.

    The last group may be shorter (the period ends inside it); a tie goes to the stage met
    first in the group.
    """
    shown = []
    for start in range(0, len(stages), PER_EPOCH):
        group = stages[start : start + PER_EPOCH]
        # max() keeps the first of equal counts; candidates in order of first appearance.
        shown.append(max(dict.fromkeys(group), key=group.count))
    return "".join(shown)


def revised(stages: str, rng: Random, revision: int) -> str:
    """Before a day settles (revision < 3), a few 5-minute epochs show another sleep stage.

    In `2 x (3 - revision)` epochs shown asleep, the 30-second epochs of the shown stage
    take another one, so the summary, the durations and the scores all move together.
    """
    if revision >= 3:
        return stages
    shown = five_minute_summary(stages)
    asleep = [i for i, s in enumerate(shown) if s != "4"]
    out = list(stages)
    for i in rng.sample(asleep, min(len(asleep), 2 * (3 - revision))):
        stage = shown[i]
        other = {"2": rng.choice("13"), "1": "2", "3": "2"}[stage]
        for j in range(i * PER_EPOCH, min(len(out), (i + 1) * PER_EPOCH)):
            if out[j] == stage:
                out[j] = other
    return "".join(out)
