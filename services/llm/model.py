"""A small, real language model: a word-level trigram model with backoff.

Training counts, for every pair of preceding words (compared in lower case), which token
followed; generation samples the next token from the longest context seen in training
(trigram, else bigram, else unigram), with a temperature. Given the same random generator,
the same context gives the same token, so a seeded request is reproducible.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

BOS = "<bos>"
EOS = "<eos>"
MODEL_NAME = "trigram-wordlm"
CORPUS_DIR = Path(__file__).resolve().parent / "corpus"

TOKEN_RE = re.compile(r"[A-Za-z]+(?:[-'][A-Za-z]+)*|\d+|--|[^\sA-Za-z\d]")
NO_SPACE_BEFORE = frozenset(".,;:!?)]}'")
NO_SPACE_AFTER = frozenset("([{")


def tokenize(text: str) -> list[str]:
    return TOKEN_RE.findall(text)


def render(token: str, previous_char: str) -> str:
    """The text of ``token`` as it follows text ending in ``previous_char`` ('' at the start)."""
    if token in NO_SPACE_BEFORE or not previous_char or previous_char.isspace():
        return token
    if previous_char in NO_SPACE_AFTER:
        return token
    return " " + token


def read_corpus(folder: Path = CORPUS_DIR) -> list[str]:
    """Paragraphs of every ``*.txt`` file in ``folder``, in file-name order."""
    paragraphs = []
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        paragraphs += [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
    return paragraphs


@dataclass
class _Choices:
    """Next tokens after one context, with their counts, in first-seen order."""

    tokens: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    def add(self, counter: Counter) -> None:
        self.tokens = list(counter)
        self.counts = [counter[t] for t in self.tokens]


class NgramModel:
    """A trigram model over words and punctuation, with backoff to bigrams and unigrams."""

    def __init__(self) -> None:
        self.trigrams: dict[tuple[str, str], _Choices] = {}
        self.bigrams: dict[str, _Choices] = {}
        self.unigrams = _Choices()
        self.training_tokens = 0
        self.version = "0"

    @classmethod
    def train(cls, paragraphs: Iterable[str]) -> NgramModel:
        tri: dict[tuple[str, str], Counter] = {}
        bi: dict[str, Counter] = {}
        uni: Counter = Counter()
        digest = hashlib.sha256()
        model = cls()
        for paragraph in paragraphs:
            digest.update(paragraph.encode())
            tokens = [BOS, BOS, *tokenize(paragraph), EOS]
            model.training_tokens += len(tokens) - 2
            for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False):
                tri.setdefault((a.lower(), b.lower()), Counter())[c] += 1
                bi.setdefault(b.lower(), Counter())[c] += 1
                uni[c] += 1
        if not uni:
            raise ValueError("cannot train a language model on an empty corpus")
        model.trigrams = {k: _choices(v) for k, v in tri.items()}
        model.bigrams = {k: _choices(v) for k, v in bi.items()}
        model.unigrams = _choices(uni)
        model.version = digest.hexdigest()[:12]
        return model

    @property
    def vocab_size(self) -> int:
        return len(self.unigrams.tokens)

    def choices(self, context: list[str]) -> _Choices:
        """Next-token candidates after ``context``, from the longest context seen."""
        padded = [BOS, BOS, *context][-2:]
        a, b = padded[0].lower(), padded[1].lower()
        return self.trigrams.get((a, b)) or self.bigrams.get(b) or self.unigrams

    def sample(self, context: list[str], rng: random.Random, temperature: float = 1.0,
               allow_eos: bool = True) -> str:
        """The next token; ``temperature`` 0 is greedy, higher flattens the distribution."""
        options = self.choices(context)
        pairs = [(t, c) for t, c in zip(options.tokens, options.counts, strict=True)
                 if allow_eos or t != EOS]
        if not pairs:  # only the end token followed this context
            pairs = [(t, c) for t, c in zip(self.unigrams.tokens, self.unigrams.counts,
                                            strict=True) if t != EOS]
        if temperature <= 0:
            return max(pairs, key=lambda p: p[1])[0]
        # count ** (1/T), scaled by the largest count so tiny temperatures cannot overflow.
        top = max(c for _, c in pairs)
        weights = [math.exp((math.log(c) - math.log(top)) / temperature) for _, c in pairs]
        return rng.choices([t for t, _ in pairs], weights=weights)[0]


def _choices(counter: Counter) -> _Choices:
    ch = _Choices()
    ch.add(counter)
    return ch


def train_from_corpus(folder: str | Path | None = None) -> NgramModel:
    """Train on the shipped corpus (or ``folder``); raises if there is nothing to learn."""
    path = Path(folder) if folder else CORPUS_DIR
    paragraphs = read_corpus(path)
    if not paragraphs:
        raise ValueError(f"{path}: no *.txt files with text to train on")
    return NgramModel.train(paragraphs)
