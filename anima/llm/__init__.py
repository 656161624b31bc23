"""LLM backends (embedded llama.cpp, OpenAI-compatible) and the router with fallbacks."""

from anima.llm.base import GenerationRequest, LLMBackend
from anima.llm.router import LLMRouter

__all__ = ["GenerationRequest", "LLMBackend", "LLMRouter"]
