"""Judging a responder's diagnosis: a choice, judged exactly, never by keywords.

A diagnosis names a component and a failure mode picked from lists the drill offers: the
scenario's own (its ``diagnosis`` block, the answer key) among distractors drawn from the
other scenarios' components and failure modes, shuffled with the drill's seed. It is right
when both picks equal the answer key, whatever else is said; free text is kept for the
debrief and never judged (a negation such as "not the kv cache" cannot score, and a right
answer in short words cannot be missed). A facilitator may override a judgement, with a
reason (``judge`` action).
"""

from __future__ import annotations

import random

N_COMPONENTS = 4  # the right one among these many
N_MODES = 5


def _options(right: str, pool: list[str], n: int, rng: random.Random) -> list[str]:
    others = sorted({p for p in pool if p and p != right})
    rng.shuffle(others)
    picked = [right, *others[: max(0, n - 1)]]
    rng.shuffle(picked)
    return picked


def diagnosis_choices(key: dict | None, catalog: list[dict], seed: int | str | None = None
                      ) -> dict:
    """``{"components": [...], "failure_modes": [...]}`` offered for ``key`` (the scenario's
    ``diagnosis``), distractors from ``catalog`` (every scenario's ``diagnosis``)."""
    if not key:
        return {"components": [], "failure_modes": []}
    rng = random.Random(f"{seed}:{key['component']}:{key['failure_mode']}")
    return {"components": _options(key["component"], [c["component"] for c in catalog],
                                   N_COMPONENTS, rng),
            "failure_modes": _options(key["failure_mode"],
                                      [c["failure_mode"] for c in catalog], N_MODES, rng)}


def pick(value: object, options: list[str], field: str) -> str:
    """The option ``value`` names: the text itself, or its number (1-based) in the list."""
    text = str(value).strip()
    if text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1]
    for option in options:
        if text.lower() == option.lower():
            return option
    listed = "; ".join(f"{i}. {o}" for i, o in enumerate(options, 1))
    raise ValueError(f"{field}: {text!r} is not one of the choices ({listed})")


def judge_choice(component: str, failure_mode: str, key: dict | None) -> dict:
    """``{"correct": bool | None, ...}``: exact on both; None when there is no key."""
    if not key:
        return {"correct": None, "why": "the scenario has no diagnosis key"}
    right_c = component == key["component"]
    right_m = failure_mode == key["failure_mode"]
    why = ("component and failure mode right" if right_c and right_m else
           "component right, failure mode wrong" if right_c else
           "failure mode right, component wrong" if right_m else "component and failure "
           "mode wrong")
    return {"correct": right_c and right_m, "component_right": right_c,
            "failure_mode_right": right_m, "why": why}
