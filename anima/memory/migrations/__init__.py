"""Alembic revisions of the memory schema (run by anima.memory.migrate at start)."""
