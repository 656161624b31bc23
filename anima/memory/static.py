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
import threading
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
# Words whose vectors are kept (float32, 256 bytes each: 8 MB at most); a word is tokenized once, not
# once per recall, and when the table is full it starts afresh.
WORD_VECTORS = 32_768
TEXT_WORDS = 8192  # texts whose word ids are kept (the same memories come back recall after recall)
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


# One static encoder per process (its table, 2 MB).
shared_static = once_per_process(StaticEncoder)


class WordMatcher:
    """How closely a memory's words come to a question's, by the static encoder's word vectors.

    A word's vector is the sum of its tokens' rows at unit length, kept in one growing matrix, so a
    recall matches every candidate's words in one product: query words × candidates' words, then the
    best of each candidate's span. Words of a kind a question names without its instances lean the
    same way in MiniLM's token space ("pets" and "turtles", "exercise" and "kickboxing")."""

    def __init__(self, encoder: StaticEncoder) -> None:
        import numpy as np

        self._np = np
        self._encoder = encoder
        self._lock = threading.Lock()  # recalls on several threads (PostgreSQL) share the table
        self._afresh()

    def _afresh(self) -> None:
        self._ids: dict[str, int | None] = {}  # None: a word of no vector
        self._rows = 0
        self._matrix = self._np.zeros((1024, DIMENSIONS), self._np.float32)
        self._text_ids = lru_cache(maxsize=TEXT_WORDS)(self._ids_of)
        self.generation = getattr(self, "generation", 0) + 1

    def words(self, text: str) -> Any:
        """The unit vectors (n, 64) of the distinct words of `text` that are not stopwords."""
        with self._lock:
            ids = self._text_ids(text[:MAX_CHARS])  # first: reading them may grow the matrix
            return self._matrix[ids]

    def matches(self, query: Any, texts: list[str]) -> list[tuple[float, float]]:
        """For each of `texts`: the mean, over the `query` words (`words(...)` of the question), of
        the cosine of the text's word nearest to each (1 for the word itself), and the same mean with
        the query's words the text says itself counted 0. (0, 0) for a text of no words, or none asked."""
        np = self._np
        found = [(0.0, 0.0)] * len(texts)
        if query is None or not len(query):
            return found
        with self._lock:
            generation = self.generation
            spans = [self._text_ids(text[:MAX_CHARS]) for text in texts]
            if self.generation != generation:  # the table started afresh midway: read them again
                spans = [self._text_ids(text[:MAX_CHARS]) for text in texts]
            said = [n for n, ids in enumerate(spans) if len(ids)]
            if not said:
                return found
            ids = np.concatenate([spans[n] for n in said])
            similarity = query @ self._matrix[ids].T
        starts = np.cumsum([0] + [len(spans[n]) for n in said[:-1]])
        nearest = np.maximum.reduceat(similarity, starts, axis=1)  # (query words, candidates)
        means = nearest.mean(axis=0)
        beyond = np.where(nearest > SAME_WORD, 0.0, nearest).mean(axis=0)
        for column, n in enumerate(said):
            found[n] = (float(means[column]), float(beyond[column]))
        return found

    def _ids_of(self, text: str) -> Any:
        known, rows = self._ids, []
        for word in sorted(set(_PLAIN_WORD.findall(text.lower())) - STOPWORDS):  # sorted: the same sums
            row = known[word] if word in known else self._row(word)
            if row is not None:
                rows.append(row)
        return self._np.array(rows, dtype=self._np.intp)

    def _row(self, word: str) -> int | None:
        if word in self._ids:
            return self._ids[word]
        if self._rows >= WORD_VECTORS:
            self._afresh()
        encoder = self._encoder
        pieces = encoder.tokenizer.encode(word).ids
        vector = encoder.table[pieces].sum(axis=0, dtype=self._np.float32) * encoder.scale
        norm = float(self._np.linalg.norm(vector)) if pieces else 0.0
        if norm < 1e-6:
            self._ids[word] = None
            return None
        row = self._rows
        if row == len(self._matrix):
            grown = self._np.zeros((2 * row, DIMENSIONS), self._np.float32)
            grown[:row] = self._matrix
            self._matrix = grown
        self._matrix[row] = vector / norm
        self._ids[word] = row
        self._rows += 1
        return row


shared_word_matcher = once_per_process(lambda: WordMatcher(shared_static()))


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
