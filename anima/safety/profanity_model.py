"""alt-profanity-check's trained model, re-run in plain Python at ~20 µs per message.

The package ships a TF-IDF vectorizer and five calibrated linear SVMs (scikit-learn). Calling
`predict_prob` costs ~3.5 ms per message (sparse-matrix set-up dominates) and importing it ~1 s, so
the model is read once, by a child process, into one table: word → (idf, idf × weight per SVM).
Scoring a text is then a dictionary lookup per word; the probabilities equal the package's own.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import threading
from dataclasses import astuple, dataclass

from anima.errors import AnimaError

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default token_pattern


@dataclass(frozen=True)
class _Calibrated:
    intercept: float
    a: float  # sigmoid calibration: p = 1 / (1 + exp(a * decision + b))
    b: float


class ProfanityModel:
    """Probability that a text is profane (English), and which of its words carry that."""

    def __init__(self, table: dict[str, tuple[float, tuple[float, ...]]], svms: list[_Calibrated]) -> None:
        self._table = table
        self._svms = svms
        self._word_scores: dict[str, float] = {}

    def score(self, text: str) -> float:
        counts: dict[str, int] = {}
        for word in _TOKEN.findall(text.lower()):
            if word in self._table:
                counts[word] = counts.get(word, 0) + 1
        decisions = [0.0] * len(self._svms)
        norm = 0.0
        for word, tf in counts.items():
            idf, weights = self._table[word]
            norm += (tf * idf) ** 2
            for k, weight in enumerate(weights):
                decisions[k] += tf * weight
        norm = math.sqrt(norm) or 1.0
        total = 0.0
        for k, svm in enumerate(self._svms):
            total += _sigmoid(svm, decisions[k] / norm + svm.intercept)
        return total / len(self._svms)

    def word_score(self, word: str) -> float:
        """A word's score on its own: how profane the model thinks the word itself is."""
        word = word.lower()
        if word not in self._word_scores:
            self._word_scores[word] = self.score(word) if word in self._table else 0.0
        return self._word_scores[word]

    def profane_words(self, text: str, threshold: float) -> list[str]:
        return [w for w in _TOKEN.findall(text) if self.word_score(w) >= threshold]


def _sigmoid(svm: _Calibrated, decision: float) -> float:
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
            done = subprocess.run(
                [sys.executable, "-m", "anima.safety.profanity_model"],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise AnimaError(f"could not read alt-profanity-check's model: {done.stderr.strip()[-500:]}")
            raw = json.loads(done.stdout)
            table = {word: (idf, tuple(weights)) for word, (idf, weights) in raw["table"].items()}
            _loaded = ProfanityModel(table, [_Calibrated(*svm) for svm in raw["svms"]])
    return _loaded


def loaded_profanity_model() -> ProfanityModel | None:
    return _loaded


def _read_package_model() -> tuple[dict[str, tuple[float, tuple[float, ...]]], list[_Calibrated]]:
    from importlib import resources

    import joblib  # comes with alt-profanity-check (scikit-learn)

    data = resources.files("profanity_check") / "data"
    vectorizer = joblib.load(data / "vectorizer.joblib")
    model = joblib.load(data / "model.joblib")
    svms: list[_Calibrated] = []
    weights = []
    for calibrated in model.calibrated_classifiers_:
        (calibrator,) = calibrated.calibrators
        estimator = calibrated.estimator
        svms.append(_Calibrated(float(estimator.intercept_[0]), float(calibrator.a_), float(calibrator.b_)))
        weights.append(estimator.coef_[0])
    idf = vectorizer.idf_
    table = {
        word: (float(idf[j]), tuple(float(idf[j] * w[j]) for w in weights))
        for word, j in vectorizer.vocabulary_.items()
    }
    return table, svms


if __name__ == "__main__":  # the child process of load_profanity_model
    table, svms = _read_package_model()
    json.dump({"table": table, "svms": [astuple(svm) for svm in svms]}, sys.stdout)
