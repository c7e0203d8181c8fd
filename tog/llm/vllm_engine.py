"""`VLLMEngine`: an in-process `vllm.LLM` as a batch backend (extra ``vllm``).

`complete_batch` answers a whole round of requests with ONE ``LLM.chat`` call, so the lockstep
driver (`tog.drivers.drive_many`, used by `tog.answer_many`) gets vLLM's continuous batching and
prefix caching across questions without a server. Our prompts put the shared instructions and
few-shot examples first and the question and candidates last, and a batch is sent sorted by task,
so requests sharing a prefix sit next to each other.

**vLLM cannot run on this project's CI machines** (it is CUDA-only, several GB, and there are no
weights here): importing this module never imports vllm, and the tests drive `VLLMEngine` with a
stand-in object that has `vllm.LLM.chat`'s signature and returns objects shaped like vllm's
``RequestOutput``. Real runs are marked ``gpu``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias, cast

from tog.errors import ContextLengthExceeded, LLMResponseError
from tog.llm.base import ChatRequest, Completion, JSONValue, Sampling, task_name

if TYPE_CHECKING:
    from tog.llm.wire import LLMIdentity

__all__ = ["SupportsChat", "VLLMEngine", "sampling_kwargs"]

Conversation: TypeAlias = list[dict[str, str]]
StructuredOutputs: TypeAlias = bool | Literal["vllm", "vllm-legacy"]

_GUIDED_FIELDS = {
    "guided_json": "json",
    "guided_choice": "choice",
    "guided_regex": "regex",
    "guided_grammar": "grammar",
}
_CONTEXT_MARKERS = ("maximum model length", "max_model_len", "maximum context length")


class CompletionOutputLike(Protocol):
    """What we read of vllm's ``CompletionOutput``."""

    @property
    def text(self) -> str:
        """The generated text."""

    @property
    def token_ids(self) -> Sequence[int]:
        """The generated tokens."""

    @property
    def finish_reason(self) -> str | None:
        """``"stop"`` or ``"length"``."""


class RequestOutputLike(Protocol):
    """What we read of vllm's ``RequestOutput``."""

    @property
    def prompt_token_ids(self) -> Sequence[int] | None:
        """The prompt's tokens (the chat template applied)."""

    @property
    def outputs(self) -> Sequence[CompletionOutputLike]:
        """One completion per sample (we ask for one)."""


class SupportsChat(Protocol):
    """The part of ``vllm.LLM`` we use: a batched ``chat`` over many conversations."""

    def chat(
        self,
        messages: list[Conversation],
        sampling_params: list[object] | None = None,
        use_tqdm: bool = True,
        *,
        chat_template_kwargs: dict[str, object] | None = None,
    ) -> Sequence[RequestOutputLike]:
        """One output per conversation, in order."""
        ...


def sampling_kwargs(
    sampling: Sampling, fields: Mapping[str, JSONValue] | None = None
) -> dict[str, object]:
    """Keyword arguments of ``vllm.SamplingParams`` for one request (pure).

    ``temperature``, ``max_tokens``, ``top_p``, ``seed`` and ``stop`` map one to one. Vendor
    fields (``sampling.extra``, then ``fields``) pass through unchanged, except two spellings of
    structured output, kept as plain data here and turned into vllm objects by `VLLMEngine`:
    ``structured_outputs`` (vLLM ≥ 0.10.2) and ``guided_json`` / ``guided_choice`` /
    ``guided_regex`` / ``guided_grammar`` (older vLLM), which become one ``guided_decoding``.

    >>> sampling_kwargs(Sampling(temperature=0.4, max_tokens=64, seed=3, stop=("END",)))
    {'temperature': 0.4, 'max_tokens': 64, 'seed': 3, 'stop': ['END']}
    >>> sampling_kwargs(Sampling(), {"guided_choice": ["yes", "no"]})["guided_decoding"]
    {'choice': ['yes', 'no']}
    """
    kwargs: dict[str, object] = {
        "temperature": sampling.temperature,
        "max_tokens": sampling.max_tokens,
    }
    if sampling.top_p is not None:
        kwargs["top_p"] = sampling.top_p
    if sampling.seed is not None:
        kwargs["seed"] = sampling.seed
    if sampling.stop:
        kwargs["stop"] = list(sampling.stop)
    guided: dict[str, object] = {}
    for key, value in {**sampling.extra, **(fields or {})}.items():
        if key in _GUIDED_FIELDS:
            guided[_GUIDED_FIELDS[key]] = value
        else:
            kwargs[key] = value
    if guided:
        kwargs["guided_decoding"] = guided
    return kwargs


class VLLMEngine:
    """In-process vLLM: `complete_batch` sends a round of requests as one ``LLM.chat`` call.

    Pass it as ``llm=`` to `tog.answer_many` (or `ThinkOnGraph.run_many`): the lockstep driver
    then sends every round's requests from all questions in one batch. It also works with
    `tog.answer`, one request per call.

    vLLM cannot run on this project's CI machines; the tests use a stand-in object with
    ``vllm.LLM.chat``'s signature (see the module docstring).

    Args:
        llm: A ready ``vllm.LLM`` (or any object with its ``chat``), or a model name or path, from
            which ``vllm.LLM(model=llm, **engine_kwargs)`` is built (needs the ``vllm`` extra).
        engine_kwargs: Keyword arguments for ``vllm.LLM`` when ``llm`` is a name, such as
            ``{"max_model_len": 4096, "enable_prefix_caching": True}``.
        model: The model name reported in completions; ``llm`` when it is a name.
        structured_outputs: Constrain each reply to its task's JSON schema
            (`tog.llm.structured.schema_for`): True or ``"vllm"`` uses ``SamplingParams``'s
            ``structured_outputs`` (vLLM ≥ 0.10.2), ``"vllm-legacy"`` its ``guided_decoding``.
            Off by default; the parsers read unconstrained replies too.
        chat_template_kwargs: Passed to every ``chat`` call (e.g. ``{"enable_thinking": False}``).
        sampling_params: Builds one ``SamplingParams`` from `sampling_kwargs`' output; by default
            ``vllm.SamplingParams(**kwargs)`` with structured-output fields turned into vllm's
            parameter objects. Replace it when a vLLM version renames a field.

    Raises:
        ImportError: ``llm`` is a name and vllm is not installed (the extra is ``vllm``).
        ValueError: ``structured_outputs`` is not one of the values above.
    """

    def __init__(
        self,
        llm: SupportsChat | str,
        *,
        engine_kwargs: Mapping[str, object] | None = None,
        model: str | None = None,
        structured_outputs: StructuredOutputs = False,
        chat_template_kwargs: Mapping[str, object] | None = None,
        sampling_params: Callable[[dict[str, object]], object] | None = None,
    ) -> None:
        if structured_outputs not in (True, False, "vllm", "vllm-legacy"):
            raise ValueError(
                "structured_outputs must be True, False, 'vllm' or 'vllm-legacy'; "
                f"got {structured_outputs!r}"
            )
        if isinstance(llm, str):
            self.model = model or llm
            module = _vllm()
            self.llm: SupportsChat = module.LLM(model=llm, **dict(engine_kwargs or {}))
        else:
            if engine_kwargs:
                raise ValueError("engine_kwargs only apply when llm is a model name")
            self.model = model or str(getattr(llm, "model", "") or type(llm).__name__)
            self.llm = llm
        self.structured: Literal["vllm", "vllm-legacy"] | None = (
            "vllm" if structured_outputs is True else structured_outputs or None
        )
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self._sampling_params = sampling_params or _vllm_sampling_params

    def __repr__(self) -> str:
        return f"VLLMEngine(model={self.model!r})"

    def identity(self) -> LLMIdentity:
        """The model name and structured-output style, for cache keys (`tog.llm.wire`)."""
        from tog.llm.wire import LLMIdentity

        return LLMIdentity(self.model, self.structured, type(self).__name__)

    def complete(self, request: ChatRequest) -> Completion:
        """Answer one request (a batch of one)."""
        return self.complete_batch([request])[0]

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Answer every request with one ``LLM.chat`` call; completions come back in order.

        The requests are sent sorted by task (a stable sort), so those sharing a prompt prefix
        are adjacent for vLLM's prefix cache; the replies are put back in the caller's order.

        Raises:
            ContextLengthExceeded: vLLM refused a prompt longer than the model's context.
            LLMResponseError: vLLM returned a different number of outputs, or an empty one.
        """
        if not requests:
            return []
        order = sorted(range(len(requests)), key=lambda k: task_name(requests[k].task))
        conversations: list[Conversation] = []
        params: list[object] = []
        for k in order:
            request = requests[k]
            conversations.append([{"role": m.role, "content": m.content} for m in request.messages])
            params.append(
                self._sampling_params(sampling_kwargs(request.sampling, self._fields(request)))
            )
        try:
            if self.chat_template_kwargs:
                outputs = self.llm.chat(
                    conversations,
                    params,
                    use_tqdm=False,
                    chat_template_kwargs=dict(self.chat_template_kwargs),
                )
            else:
                outputs = self.llm.chat(conversations, params, use_tqdm=False)
        except ValueError as exc:
            if any(marker in str(exc) for marker in _CONTEXT_MARKERS):
                raise ContextLengthExceeded(
                    str(exc), status_code=400, backend="vllm", model=self.model
                ) from exc
            raise
        if len(outputs) != len(requests):
            raise LLMResponseError(
                f"vllm returned {len(outputs)} outputs for {len(requests)} conversations",
                backend="vllm",
                model=self.model,
            )
        completions: list[Completion | None] = [None] * len(requests)
        for k, output in zip(order, outputs, strict=True):
            completions[k] = self._completion(output)
        return cast(list[Completion], completions)

    def _fields(self, request: ChatRequest) -> dict[str, JSONValue]:
        if self.structured is None:
            return {}
        from tog.llm.structured import task_fields

        return task_fields(request.task, self.structured)

    def _completion(self, output: RequestOutputLike) -> Completion:
        if not output.outputs:
            raise LLMResponseError("vllm returned an output with no completion", model=self.model)
        first = output.outputs[0]
        return Completion(
            text=first.text,
            prompt_tokens=len(output.prompt_token_ids or ()),
            completion_tokens=len(first.token_ids),
            finish_reason=first.finish_reason,
            model=self.model,
        )


def _vllm() -> _VLLMModule:
    try:
        return cast(_VLLMModule, importlib.import_module("vllm"))
    except ImportError as exc:
        raise ImportError(
            "VLLMEngine needs vllm: pip install 'think-on-graph[vllm]' (CUDA only)"
        ) from exc


class _VLLMModule(Protocol):
    LLM: Callable[..., SupportsChat]
    SamplingParams: Callable[..., object]


def _vllm_sampling_params(kwargs: dict[str, object]) -> object:
    """``vllm.SamplingParams(**kwargs)``, structured-output fields as vllm's parameter objects."""
    module = _vllm()
    params = importlib.import_module("vllm.sampling_params")
    kwargs = dict(kwargs)
    if isinstance(structured := kwargs.get("structured_outputs"), Mapping):
        kwargs["structured_outputs"] = params.StructuredOutputsParams(**structured)
    if isinstance(guided := kwargs.get("guided_decoding"), Mapping):
        kwargs["guided_decoding"] = params.GuidedDecodingParams(**guided)
    return module.SamplingParams(**kwargs)
