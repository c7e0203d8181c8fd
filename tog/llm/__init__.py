"""LLM backends: an OpenAI-compatible client, LangChain chat models, the offline scorer, fakes.

There is no GPU here and no model weights: against a real deployment, point `OpenAICompatible` at
a ``vllm serve`` endpoint. `tog.llm.standin` serves a local stand-in that speaks the same protocol
for tests and demos; it is not a model. `VLLMEngine` runs an in-process ``vllm.LLM`` (extra
``vllm``, never imported until used) and answers a batch of requests in one call.
`CachedLLM` / `AsyncCachedLLM` wrap any backend with a persistent response cache (one SQLite file).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tog.llm.base import (
        AsyncChatModel,
        ChatModel,
        ChatRequest,
        Completion,
        Message,
        Sampling,
        SupportsBatchComplete,
    )
    from tog.llm.cache import AsyncCachedLLM, CachedLLM, ResponseCache
    from tog.llm.langchain import AsyncLangChainChat, LangChainChat
    from tog.llm.offline import OfflineScorer
    from tog.llm.openai_compat import AsyncOpenAICompatible, OpenAICompatible
    from tog.llm.scripted import AsyncScriptedLLM, ScriptedLLM
    from tog.llm.vllm_engine import VLLMEngine

_LAZY = {
    "AsyncCachedLLM": "tog.llm.cache",
    "AsyncChatModel": "tog.llm.base",
    "AsyncLangChainChat": "tog.llm.langchain",
    "AsyncOpenAICompatible": "tog.llm.openai_compat",
    "AsyncScriptedLLM": "tog.llm.scripted",
    "CachedLLM": "tog.llm.cache",
    "ChatModel": "tog.llm.base",
    "ChatRequest": "tog.llm.base",
    "Completion": "tog.llm.base",
    "LangChainChat": "tog.llm.langchain",
    "Message": "tog.llm.base",
    "OfflineScorer": "tog.llm.offline",
    "OpenAICompatible": "tog.llm.openai_compat",
    "ResponseCache": "tog.llm.cache",
    "Sampling": "tog.llm.base",
    "ScriptedLLM": "tog.llm.scripted",
    "SupportsBatchComplete": "tog.llm.base",
    "VLLMEngine": "tog.llm.vllm_engine",
}

__all__ = [
    "AsyncCachedLLM",
    "AsyncChatModel",
    "AsyncLangChainChat",
    "AsyncOpenAICompatible",
    "AsyncScriptedLLM",
    "CachedLLM",
    "ChatModel",
    "ChatRequest",
    "Completion",
    "LangChainChat",
    "Message",
    "OfflineScorer",
    "OpenAICompatible",
    "ResponseCache",
    "Sampling",
    "ScriptedLLM",
    "SupportsBatchComplete",
    "VLLMEngine",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tog.llm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
