"""Judging a learner's diagnosis against the scenario's answer key (wheel of misfortune).

A diagnosis is right when it names a third of the key terms: the scenario's ``keywords``
when it lists them (any one group of synonyms separated by ``|`` counts once), else the
significant words of its root cause. Generous on purpose: the debrief is where people talk.
"""

from __future__ import annotations

import re

STOPWORDS = {
    "the", "and", "for", "with", "from", "that", "this", "into", "when", "than", "then",
    "are", "was", "were", "its", "their", "which", "while", "after", "before", "because",
    "only", "still", "does", "not", "but", "all", "one", "two", "has", "have", "had", "over",
    "under", "each", "every", "more", "less", "some", "any", "out", "off", "too", "very",
}


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9][a-z0-9_-]+", text.lower())
            if len(w) > 2 and w not in STOPWORDS}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _any_match(keys: set[str], said: set[str]) -> bool:
    """A key matches a word that equals it or, for keys of 4+ letters, starts with it
    (keywords may be prefixes: ``throttl`` matches ``throttled``)."""
    return any(w == k or (len(k) >= 4 and w.startswith(k)) for k in keys for w in said)


def judge_diagnosis(text: str, root_cause: str, keywords: list[str] | None = None) -> dict:
    said = {_stem(w) for w in words(text)}
    if keywords:
        groups = [{_stem(w) for alt in k.split("|") for w in words(alt)} for k in keywords]
        hits = [k for k, g in zip(keywords, groups, strict=True) if _any_match(g, said)]
        need = max(1, -(-len(keywords) // 3))  # a third of the key terms, rounded up
        return {"correct": len(hits) >= need, "matched": hits, "needed": need,
                "of": len(keywords)}
    key = {_stem(w) for w in words(root_cause)}
    hits = sorted(key & said)
    need = max(1, min(3, len(key) // 3))
    return {"correct": len(hits) >= need, "matched": hits, "needed": need, "of": len(key)}
