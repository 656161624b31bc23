"""Optional vector recall: each memory's sentence vector, searched exactly within its conversation.

A conversation holds thousands of memories at most, so a brute-force dot product over its vectors
(a few hundred microseconds in numpy) is exact and needs no vector extension: the same code runs
on SQLite and PostgreSQL. Matrices of recently used conversations stay cached in memory.
Embedding runs on a worker thread, never on the event loop: new memories are embedded in the
background (anima.memory.keeper), only the question of each recall on the reply's path.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, bindparam, delete, func, select
from sqlmodel import col

from anima.memory.embedding import shared_model
from anima.memory.models import Fact, MemoryVector, Message, SearchEntry, Summary, primary, table_of

CACHED_CONVERSATIONS = 64
# … and at most this many bytes of their matrices in all: by count alone, 64 long conversations
# (1.5 kB a memory with the static encoder) grew without bound as people kept talking.
CACHED_BYTES = 32 * 1024 * 1024
EMBED_BATCH = 32
# Memories are looked for without vectors among the newest entries of a conversation only (those
# after the last one seen), and among all of them every FULL_SCAN_EVERY-th time: a scan of the
# whole conversation cost ~0.5 ms a turn, and an entry committed late (PostgreSQL, two writers)
# or left by another process is still found within that many turns.
FULL_SCAN_EVERY = 32
WATERMARKS = 4096  # conversations whose newest looked-at entry is remembered
Encoding = Literal["static", "minilm"]  # memory.encoder


class Encoder(Protocol):
    dimensions: int

    def embed(self, texts: list[str]) -> Any:
        """A float32 array (len(texts), dimensions) of unit vectors."""
        ...


def encoder(name: Encoding) -> Encoder:
    """The shared encoder of that name: static token vectors (~1 ms a message), or full MiniLM (~90 ms)."""
    if name == "minilm":
        return shared_model()
    from anima.memory.static import shared_static

    return shared_static()


class VectorIndex:
    def __init__(self, embedder: Encoder | None = None) -> None:
        import numpy as np
        from threadpoolctl import threadpool_limits

        self._np = np
        self._limits = threadpool_limits
        self._embedder = embedder or encoder("static")
        self.dimensions = self._embedder.dimensions
        # a question embedded faster than a hop to this index's thread is embedded where recall runs
        self.quick: bool = getattr(self._embedder, "quick", False)
        # A vector of another length was stored by the other encoder (memory.encoder changed): it is
        # passed over in search and embedded again.
        self._own_length = func.length(col(MemoryVector.vector)) == 2 * self.dimensions
        self._unembedded = (
            select(primary(SearchEntry.id), col(SearchEntry.kind), col(SearchEntry.item_id))
            .outerjoin(
                MemoryVector, (col(MemoryVector.entry_id) == primary(SearchEntry.id)) & self._own_length
            )
            .where(
                col(SearchEntry.conversation_id) == bindparam("conversation"),
                primary(SearchEntry.id) > bindparam("after"),
                col(MemoryVector.entry_id).is_(None),
            )
            .order_by(primary(SearchEntry.id))
            .limit(bindparam("limit"))
        )
        self._vectors_of = select(col(MemoryVector.entry_id), col(MemoryVector.vector)).where(
            col(MemoryVector.conversation_id) == bindparam("conversation"), self._own_length
        )  # built once: constructing a select costs more than running this one
        # One thread, one BLAS thread: on 2 cores, BLAS's own threads fighting the event loop
        # made a query 20x slower than this.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding")
        self._cache: OrderedDict[int, tuple[Any, Any]] = OrderedDict()  # conversation → (ids, matrix)
        self._cached_bytes = 0
        # Recall reads on the database's reader thread while vectors are stored on its writer thread:
        # the cache is changed under this lock, and a matrix read from the database joins it only if
        # no vectors of its conversation were added (nor any forgotten) while it was read, since
        # that read may have seen the database from before their commit.
        self._lock = threading.Lock()
        self._changes: dict[int, int] = {}  # conversation → vectors added to it, counted
        self._forgets = 0
        # conversation → (the newest entry looked at, scans since the last full one)
        self._seen: OrderedDict[int, tuple[int, int]] = OrderedDict()

    async def embed(self, texts: list[str]) -> Any:
        def run() -> Any:
            with self._limits(1):
                return self._np.concatenate(
                    [
                        self._embedder.embed(texts[i : i + EMBED_BATCH])
                        for i in range(0, len(texts), EMBED_BATCH)
                    ]
                )

        return await asyncio.get_running_loop().run_in_executor(self._thread, run)

    def embed_now(self, texts: list[str]) -> Any:
        """`texts` embedded on the calling thread (a quick encoder's question, in recall's own thread)."""
        return self._embedder.embed(texts)

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    # --- SQL functions (run inside Database.transaction) ---

    def unembedded(self, conn: Connection, conversation_id: int, limit: int) -> list[tuple[int, str]]:
        """(entry id, text) of memories of the conversation that have no vector yet, oldest first."""
        seen, scans = self._seen.get(conversation_id, (0, 0))
        after = 0 if scans % FULL_SCAN_EVERY == 0 else seen
        rows = conn.execute(
            self._unembedded, {"conversation": conversation_id, "after": after, "limit": limit}
        ).all()
        # the rest, if any, comes after the newest returned (which the caller embeds now); a full
        # scan goes on from the start until it comes back short
        newest = max([seen, *(entry for entry, _, _ in rows)])
        self._seen[conversation_id] = (newest, scans + (len(rows) < limit))
        self._seen.move_to_end(conversation_id)
        while len(self._seen) > WATERMARKS:
            self._seen.popitem(last=False)
        texts: dict[tuple[str, int], str] = {}
        for kind, statement in _CONTENTS.items():
            wanted = [item for _, k, item in rows if k == kind]
            if wanted:
                texts |= dict(
                    ((kind, item), content) for item, content in conn.execute(statement, {"ids": wanted})
                )
        return [(entry, texts.get((kind, item), "")) for entry, kind, item in rows]

    def embed_unembedded(self, conn: Connection, conversation_id: int, limit: int) -> tuple[list[int], Any]:
        """Embed and store, on the calling thread, up to `limit` memories that have no vector
        (a quick encoder's work: one transaction, no hop to this index's thread). Returns their
        entries and vectors, for `committed` once the transaction is."""
        rows = self.unembedded(conn, conversation_id, limit)
        entries = [entry for entry, _ in rows]
        vectors = self.embed_now([t for _, t in rows]) if rows else None
        if rows:
            self.store(conn, conversation_id, entries, vectors)
        return entries, vectors

    def store(self, conn: Connection, conversation_id: int, entries: list[int], vectors: Any) -> None:
        """Store the vectors of `entries` (call `committed` after the transaction commits)."""
        # an entry's vector from the other encoder, if any, is replaced
        conn.execute(delete(MemoryVector).where(col(MemoryVector.entry_id).in_(entries)))
        conn.execute(
            table_of(MemoryVector).insert(),
            [
                {
                    "entry_id": entry,
                    "conversation_id": conversation_id,
                    "vector": vector.astype("<f2").tobytes(),
                }
                for entry, vector in zip(entries, vectors, strict=True)
            ],
        )

    def committed(self, conversation_id: int, entries: list[int], vectors: Any) -> None:
        """Stored vectors, now committed, join the conversation's cached matrix (as float16
        round-trips them, like a reload): reloading every vector of the conversation after each
        stored message cost more CPU per message than all the rest of recall."""
        if not entries:
            return
        np = self._np
        fresh = np.asarray(vectors).astype("<f2").astype(np.float32).reshape(len(entries), self.dimensions)
        with self._lock:
            self._changes[conversation_id] = self._changes.get(conversation_id, 0) + 1
            cached = self._cache.get(conversation_id)
            if cached is None:
                return
            ids, matrix = cached
            keep = ~np.isin(ids, entries)  # an entry embedded again replaces its row
            self._cached(
                conversation_id,
                (
                    np.concatenate([ids[keep], np.asarray(entries, np.int64)]),
                    np.vstack([matrix[keep], fresh]),
                ),
            )

    def _cached(self, conversation_id: int, cached: tuple[Any, Any]) -> None:
        """Cache a conversation's (ids, matrix) as the newest; the least recently used go while
        over CACHED_CONVERSATIONS or CACHED_BYTES (the newest always stays). Holding the lock."""
        old = self._cache.pop(conversation_id, None)
        if old is not None:
            self._cached_bytes -= old[0].nbytes + old[1].nbytes
        self._cache[conversation_id] = cached
        self._cached_bytes += cached[0].nbytes + cached[1].nbytes
        while len(self._cache) > 1 and (
            len(self._cache) > CACHED_CONVERSATIONS or self._cached_bytes > CACHED_BYTES
        ):
            _, (ids, matrix) = self._cache.popitem(last=False)
            self._cached_bytes -= ids.nbytes + matrix.nbytes

    def nearest(
        self, conn: Connection, conversation_id: int, query: Any, limit: int
    ) -> list[tuple[int, float]]:
        """(entry id, cosine similarity) of the `limit` closest memories, closest first."""
        np = self._np
        with self._lock:
            cached = self._cache.get(conversation_id)
            if cached is not None:
                self._cache.move_to_end(conversation_id)
            seen = (self._forgets, self._changes.get(conversation_id, 0))
        if cached is None:
            rows = conn.execute(self._vectors_of, {"conversation": conversation_id}).all()
            ids = np.array([entry for entry, _ in rows], np.int64)
            raw = np.frombuffer(b"".join(v for _, v in rows), "<f2")
            matrix = raw.reshape(len(rows), self.dimensions).astype(np.float32)
            cached = (ids, matrix)
            with self._lock:
                if seen == (self._forgets, self._changes.get(conversation_id, 0)):
                    self._cached(conversation_id, cached)
        ids, matrix = cached
        if not len(ids):
            return []
        similarity = matrix @ query
        best = np.argsort(-similarity)[:limit]
        return [(int(ids[i]), float(similarity[i])) for i in best]

    def cached(self) -> tuple[int, int]:
        """How many conversations have their matrix cached, and the bytes those matrices take."""
        with self._lock:
            return len(self._cache), self._cached_bytes

    def forget_cached(self) -> None:
        """Drop cached matrices (after /forget deleted rows)."""
        with self._lock:
            self._cache.clear()
            self._cached_bytes = 0
            self._forgets += 1


# Each kind's texts by id, for `unembedded` (built once: constructing a select costs ~0.1 ms).
_CONTENTS = {
    kind: select(primary(model.id), col(model.content)).where(
        primary(model.id).in_(bindparam("ids", expanding=True))
    )
    for kind, model in (("turn", Message), ("summary", Summary), ("fact", Fact))
}
