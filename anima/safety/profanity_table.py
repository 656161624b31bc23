"""Rebuilds data/profanity_model.json.gz from the installed alt-profanity-check (scikit-learn).

Run after upgrading the package: `python -m anima.safety.profanity_table`. Only this module and
the test that compares scores with the package import scikit-learn; Anima itself reads the table.
"""

from __future__ import annotations

import base64
import gzip
import json
from array import array
from dataclasses import astuple
from pathlib import Path

from anima.safety.profanity_model import TABLE, Calibrated


def _read_package_model() -> tuple[list[str], array, list[Calibrated]]:
    from importlib import resources

    import joblib  # comes with alt-profanity-check (scikit-learn)

    data = resources.files("profanity_check") / "data"
    vectorizer = joblib.load(data / "vectorizer.joblib")
    model = joblib.load(data / "model.joblib")
    svms: list[Calibrated] = []
    weights = []
    for calibrated in model.calibrated_classifiers_:
        (calibrator,) = calibrated.calibrators
        estimator = calibrated.estimator
        svms.append(Calibrated(float(estimator.intercept_[0]), float(calibrator.a_), float(calibrator.b_)))
        weights.append(estimator.coef_[0])
    idf = vectorizer.idf_
    words = list(vectorizer.vocabulary_)
    rows = array("d")
    for word in words:
        j = vectorizer.vocabulary_[word]
        rows.extend([float(idf[j]), *(float(idf[j] * w[j]) for w in weights)])
    return words, rows, svms


def write_table(path: Path = TABLE) -> int:
    """The installed package's model as the shipped table: words one a line, rows as float64 bytes."""
    words, rows, svms = _read_package_model()
    assert not any("\n" in word for word in words), "a vocabulary word holds a newline"
    rows_text = base64.b64encode(rows.tobytes()).decode()
    data = json.dumps({"words": "\n".join(words), "rows": rows_text, "svms": [astuple(s) for s in svms]})
    path.write_bytes(gzip.compress(data.encode(), mtime=0))  # mtime 0: the same bytes on every rebuild
    return len(words)


if __name__ == "__main__":
    print(f"{write_table()} words written to {TABLE}")
