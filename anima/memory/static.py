"""Cheap sentence vectors for recall: MiniLM's own token vectors, weighted by rarity and summed.

Each vocabulary token's vector is what MiniLM gives the token alone (anima.memory.embedding.token_vectors),
centred, times the token's idf (counted on public chat text, hh-rlhf, not LoCoMo), reduced to its
64 principal components and stored as int8: data/static_vectors.npz (2 MB), shipped, so nothing is
computed at start. A text's vector is the sum of its tokens' rows at unit length: about 1 ms of CPU
a message where the full encoder costs ~90 ms, and on LoCoMo it fuses with full text as well as 384
dimensions do. `python -m anima.memory.static HH_RLHF.jsonl.gz` writes the file again.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from anima.errors import EmbeddingUnavailable
from anima.memory.embedding import int8_components, minilm_tokenizer, once_per_process, token_vectors
from anima.memory.search import STOPWORDS

TABLE = Path(__file__).parent / "data" / "static_vectors.npz"
DIMENSIONS = 64
MAX_CHARS = 2000
WORD_VECTORS = 100_000  # words whose vectors are kept (a word is tokenized once, not once per recall)
TEXT_WORDS = 8192  # texts whose word matrices are kept (the same memories come back recall after recall)
SAME_WORD = 0.999  # a cosine this close to 1 is the word itself
_PLAIN_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class StaticEncoder:
    """Sentence vectors (unit length, 64 wide) from idf-weighted token vectors."""

    dimensions = DIMENSIONS
    quick = True  # a question takes less than a hop to another thread (anima.memory.vectors)

    def __init__(self) -> None:
        try:
            import numpy as np
        except ImportError:
            raise EmbeddingUnavailable("numpy") from None
        self._np = np
        self.tokenizer = minilm_tokenizer()
        # Kept as shipped, int8 with a scale per dimension (2 MB, not 8 MB of float32): a text's sum
        # of rows is scaled once.
        with np.load(TABLE) as shipped:
            self.table = shipped["table"]
            self.scale = shipped["scale"].astype(np.float32)

    def embed(self, texts: list[str]) -> Any:
        """A float32 array (len(texts), 384) of unit vectors (zero for a text of no words)."""
        np = self._np
        out = np.zeros((len(texts), self.table.shape[1]), np.float32)
        for n, encoding in enumerate(self.tokenizer.encode_batch([text[:MAX_CHARS] for text in texts])):
            if encoding.ids:
                out[n] = self.table[encoding.ids].sum(axis=0, dtype=np.float32)
        out *= self.scale
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def words(self, text: str) -> Any:
        """The unit vectors (n, 64) of the distinct words of `text` that are not stopwords, each the
        sum of its tokens' rows; None when it has none."""
        return self._words(text[:MAX_CHARS])

    def word_match(self, query: Any, text: str) -> tuple[float, float]:
        """How closely `text` says what the `query` words (`words(...)` of the question) say: the mean,
        over the query's words, of the cosine of the word of `text` nearest to it (1 for the word
        itself), and the same mean with the query's words that `text` says itself counted 0. Words
        of a kind a question names without its instances lean the same way in MiniLM's token space
        ("pets" and "turtles", "exercise" and "kickboxing")."""
        own = self._words(text[:MAX_CHARS])
        if query is None or own is None:
            return 0.0, 0.0
        nearest = (query @ own.T).max(axis=1)
        return float(nearest.mean()), float(self._np.where(nearest > SAME_WORD, 0.0, nearest).mean())

    def _words(self, text: str) -> Any:
        return _text_words(self, text)

    def _word(self, word: str) -> Any:
        ids = self.tokenizer.encode(word).ids
        if not ids:
            return None
        row = self.table[ids].sum(axis=0, dtype=self._np.float32) * self.scale
        norm = float(self._np.linalg.norm(row))
        return row / norm if norm > 1e-6 else None


@lru_cache(maxsize=TEXT_WORDS)
def _text_words(encoder: StaticEncoder, text: str) -> Any:
    found = [
        vector
        for word in dict.fromkeys(_PLAIN_WORD.findall(text.lower()))
        if word not in STOPWORDS and (vector := _word_vector(encoder, word)) is not None
    ]
    return encoder._np.stack(found) if found else None


@lru_cache(maxsize=WORD_VECTORS)
def _word_vector(encoder: StaticEncoder, word: str) -> Any:
    return encoder._word(word)


# One static encoder per process (its table, 2 MB).
shared_static = once_per_process(StaticEncoder)


def idf_weights(texts: Iterable[str]) -> Any:
    """Smoothed inverse document frequency of each MiniLM token over `texts`, as float16."""
    import numpy as np

    tokenizer = minilm_tokenizer()
    df = np.zeros(tokenizer.get_vocab_size(), np.float64)
    documents = 0
    for text in texts:
        df[list(set(tokenizer.encode(text[:4000]).ids))] += 1
        documents += 1
    return np.log((documents + 1) / (df + 1)).astype(np.float16)


def _jsonl_texts(path: Path) -> Iterable[str]:
    with gzip.open(path, "rt") as lines:
        for line in lines:
            yield from (value for value in json.loads(line).values() if isinstance(value, str))


def write_table(public_text: Path, progress: Callable[[str], None] = print) -> None:
    """data/static_vectors.npz from MiniLM's token vectors and the idf of `public_text` (.jsonl.gz)."""
    import numpy as np

    raw = np.asarray(token_vectors(progress), np.float64)
    weighted = (raw - raw.mean(axis=0)) * idf_weights(_jsonl_texts(public_text))[:, None]
    vocab = minilm_tokenizer().get_vocab()
    weighted[[i for t, i in vocab.items() if t.startswith("[") and t.endswith("]")]] = 0.0
    table, scale = int8_components(weighted, DIMENSIONS)
    np.savez_compressed(TABLE, table=table, scale=scale.astype(np.float32))
    progress(f"wrote {TABLE}")


if __name__ == "__main__":
    write_table(Path(sys.argv[1]))
