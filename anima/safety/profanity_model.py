"""alt-profanity-check's trained model, re-run in plain Python at ~20 µs per message.

The package ships a TF-IDF vectorizer and five calibrated linear SVMs (scikit-learn). Calling
`predict_prob` costs ~3.5 ms per message (sparse-matrix set-up dominates) and importing it ~1 s, so
the model is turned into one table: word → (idf, idf × weight per SVM), kept as a word → row index
and one flat array of floats (3 MB, where a tuple of floats per word took 12), and shipped as
data/profanity_model.json.gz (MIT, its licence beside it). Scoring a text is then a dictionary
lookup per word; the probabilities equal the package's own (tests/safety/test_checks.py). Reading
the table takes ~50 ms and no scikit-learn: every `anima` process used to start a child Python that
imported scikit-learn to read the package (~3.5 s of CPU, 180 MB). Rebuild it after upgrading the
package: `python -m anima.safety.profanity_table`.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import re
import threading
from array import array
from dataclasses import dataclass
from pathlib import Path

from anima.core.recent import Recent
from anima.errors import AnimaError

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default token_pattern
TABLE = Path(__file__).parent / "data" / "profanity_model.json.gz"
WORDS_KEPT = 4096  # word scores remembered (of the model's ~15,000 words; any other word scores 0)


@dataclass(frozen=True)
class Calibrated:
    intercept: float
    a: float  # sigmoid calibration: p = 1 / (1 + exp(a * decision + b))
    b: float


class ProfanityModel:
    """Probability that a text is profane (English), and which of its words carry that."""

    def __init__(
        self, words: list[str], rows: array, svms: list[Calibrated], words_kept: int = WORDS_KEPT
    ) -> None:
        """`rows`: per word of `words`, its idf then idf × weight of each of the `svms`."""
        self._row = {word: n * (1 + len(svms)) for n, word in enumerate(words)}  # word → its row's start
        self._rows = rows
        self._svms = svms
        self._word_scores: Recent[str, float] = Recent(words_kept)

    def score(self, text: str) -> float:
        counts: dict[int, int] = {}
        row = self._row
        for word in _TOKEN.findall(text.lower()):
            if (start := row.get(word)) is not None:
                counts[start] = counts.get(start, 0) + 1
        rows = self._rows
        decisions = [0.0] * len(self._svms)
        norm = 0.0
        for start, tf in counts.items():
            norm += (tf * rows[start]) ** 2
            for k in range(len(decisions)):
                decisions[k] += tf * rows[start + 1 + k]
        norm = math.sqrt(norm) or 1.0
        total = 0.0
        for k, svm in enumerate(self._svms):
            total += _sigmoid(svm, decisions[k] / norm + svm.intercept)
        return total / len(self._svms)

    def word_score(self, word: str) -> float:
        """A word's score on its own: how profane the model thinks the word itself is."""
        word = word.lower()
        if word not in self._row:
            return 0.0  # not remembered: every word a reply makes up would be
        known = self._word_scores.get(word)
        if known is None:
            known = self._word_scores[word] = self.score(word)
        return known

    def profane_words(self, text: str, threshold: float) -> list[str]:
        return [w for w in _TOKEN.findall(text) if self.word_score(w) >= threshold]


def _sigmoid(svm: Calibrated, decision: float) -> float:
    z = svm.a * decision + svm.b
    if z >= 0:
        return math.exp(-z) / (1.0 + math.exp(-z))
    return 1.0 / (1.0 + math.exp(z))


_loaded: ProfanityModel | None = None
_lock = threading.Lock()


def load_profanity_model() -> ProfanityModel:
    """The model, read from the installed package on first call (~1.5 s: run it in a thread).

    It is read by a short-lived child Python that prints the table as JSON: scikit-learn, SciPy and
    NumPy then never load into the bot's own process (~100 MB of memory, and a few ms more for every
    full garbage collection afterwards).
    """
    global _loaded
    with _lock:
        if _loaded is None:
            try:
                raw = json.loads(gzip.decompress(TABLE.read_bytes()))
            except (OSError, ValueError) as error:
                raise AnimaError(
                    f"could not read the profanity model {TABLE}: {error}; reinstall Anima, or rebuild the "
                    "table with `python -m anima.safety.profanity_table`"
                ) from None
            rows = array("d", base64.b64decode(raw["rows"]))
            svms = [Calibrated(*svm) for svm in raw["svms"]]
            _loaded = ProfanityModel(raw["words"].split("\n"), rows, svms)
    return _loaded


def loaded_profanity_model() -> ProfanityModel | None:
    return _loaded
