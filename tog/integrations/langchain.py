"""Think-on-Graph for LangChain users: a tool for agents and a runnable for LCEL chains.

Needs the ``think-on-graph[langchain]`` extra. Both wrap a `tog.ThinkOnGraph` agent that you build
(graph, LLM, config); neither subclasses a LangChain class.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from pydantic import BaseModel, Field

from tog.agent import ThinkOnGraph
from tog.result import Result

try:
    from langchain_core.runnables import RunnableLambda
    from langchain_core.tools import StructuredTool
except ImportError as exc:
    raise ImportError(
        "tog.integrations.langchain needs langchain-core: pip install 'think-on-graph[langchain]'"
    ) from exc

__all__ = ["DEFAULT_DESCRIPTION", "NO_ANSWER", "Question", "answer_text", "as_runnable", "as_tool"]

DEFAULT_DESCRIPTION = (
    "Answer a factual question by searching a knowledge graph (Think-on-Graph). Input: the "
    "question in natural language and, optionally, the graph ids of the entities it is about. "
    "Output: the answers found, separated by '; '."
)
NO_ANSWER = "No answer found in the knowledge graph."


class Question(TypedDict):
    """Runnable input as a mapping; a plain ``str`` question works too."""

    question: str
    topic_entities: NotRequired[list[str]]


class _ToolInput(BaseModel):
    """The tool's arguments, as the calling model sees them."""

    question: str = Field(description="The question, in natural language.")
    topic_entities: list[str] | None = Field(
        default=None,
        description="Knowledge-graph ids of the entities the question is about; "
        "found in the question when omitted.",
    )


def answer_text(result: Result) -> str:
    """The ranked answers joined with ``"; "``, or a sentence saying there is none."""
    return "; ".join(result.answers) or NO_ANSWER


def as_tool(
    agent: ThinkOnGraph,
    *,
    name: str = "think_on_graph",
    description: str = DEFAULT_DESCRIPTION,
) -> StructuredTool:
    """A LangChain tool that answers a question with ``agent``.

    The tool takes ``question`` and optional ``topic_entities`` (graph ids). Its content is
    `answer_text` of the result; its artifact (``response_format="content_and_artifact"``) is the
    whole `tog.Result`, paths and trace included. Invoked with a tool call, it returns a
    ``ToolMessage`` whose ``.artifact`` is that result; invoked with plain arguments, just the text.
    ``invoke`` runs `ThinkOnGraph.run`, ``ainvoke`` runs `ThinkOnGraph.arun`. Errors (for example
    `tog.errors.LLMError`) propagate; set ``tool.handle_tool_error`` to report them to the model.

    Example:
        >>> from kg_adapters import NetworkXGraph
        >>> from tog import ThinkOnGraph
        >>> kg = NetworkXGraph.from_triples([("Inception", "directed_by", "Christopher Nolan")])
        >>> tool = as_tool(ThinkOnGraph(kg))  # with an llm=LangChainChat(model) in practice
        >>> tool.invoke({"question": "Who directed Inception?", "topic_entities": ["Inception"]})
        'Christopher Nolan'

    Args:
        agent: The agent to ask; an async one (async graph or LLM) supports only ``ainvoke``.
        name: The tool name the calling model sees.
        description: What the calling model is told the tool does.

    Returns:
        A ``StructuredTool``.
    """

    def run(question: str, topic_entities: list[str] | None = None) -> tuple[str, Result]:
        result = agent.run(question, topic_entities=topic_entities)
        return answer_text(result), result

    async def arun(question: str, topic_entities: list[str] | None = None) -> tuple[str, Result]:
        result = await agent.arun(question, topic_entities=topic_entities)
        return answer_text(result), result

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=name,
        description=description,
        args_schema=_ToolInput,
        response_format="content_and_artifact",
    )


def as_runnable(agent: ThinkOnGraph) -> RunnableLambda[str | Question, Result]:
    """A runnable from a question to its `tog.Result`, for LCEL chains.

    The input is a question string or a `Question` mapping (``{"question": ..., "topic_entities":
    [...]}``). ``invoke`` runs `ThinkOnGraph.run`, ``ainvoke`` runs `ThinkOnGraph.arun`; ``batch``
    and ``abatch`` work as for any runnable. Pipe it on, for example
    ``as_runnable(agent) | RunnableLambda(answer_text)``.

    Example:
        >>> from kg_adapters import NetworkXGraph
        >>> from tog import ThinkOnGraph
        >>> kg = NetworkXGraph.from_triples([("Inception", "directed_by", "Christopher Nolan")])
        >>> chain = as_runnable(ThinkOnGraph(kg))
        >>> chain.invoke("Who directed Inception?").answer
        'Christopher Nolan'

    Args:
        agent: The agent to ask; an async one (async graph or LLM) supports only ``ainvoke``.

    Returns:
        A ``RunnableLambda`` named ``think_on_graph``.
    """

    def run(query: str | Question) -> Result:
        question, topics = _split(query)
        return agent.run(question, topic_entities=topics)

    async def arun(query: str | Question) -> Result:
        question, topics = _split(query)
        return await agent.arun(question, topic_entities=topics)

    return RunnableLambda(run, afunc=arun, name="think_on_graph")


def _split(query: str | Question) -> tuple[str, list[str] | None]:
    if isinstance(query, str):
        return query, None
    if not isinstance(query, dict) or "question" not in query:
        raise TypeError(
            "think_on_graph takes a question string or {'question': ..., 'topic_entities': [...]}; "
            f"got {type(query).__name__}"
        )
    return query["question"], query.get("topic_entities")
