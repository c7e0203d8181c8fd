"""A JSON codec for adapter calls and their answers, for recording and replaying KG exchanges.

`KGCall` is one adapter call as data (method name and JSON arguments) with a stable `KGCall.key`;
`encode_result` / `decode_result` turn an answer into plain JSON and back, exactly: entity ids stay
strings, literals become ``{"literal": ..., "datatype": ..., "language": ...}``, hops
``[entity, relation, direction]``, and every mapping a list of ``[key, value]`` pairs in the
adapter's own order. Pure; no I/O.

>>> call = KGCall.neighbors([Hop("Inception", "directed_by", "out")], limit=5)
>>> call.key()
'{"args":{"hops":[["Inception","directed_by","out"]],"limit":5},"method":"neighbors"}'
>>> answer = {Hop("Inception", "directed_by", "out"): ("Nolan", LiteralValue("2010"))}
>>> decode_result("neighbors", encode_result("neighbors", answer)) == answer
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, cast, get_args

from kg_adapters.base import Direction, EntityId, EntityMatch, Hop, LiteralValue, Node, RelationId

__all__ = [
    "METHODS",
    "JSONData",
    "KGCall",
    "KGMethod",
    "KGResult",
    "decode_node",
    "decode_result",
    "encode_node",
    "encode_result",
]

JSONData: TypeAlias = "str | int | float | bool | list[JSONData] | dict[str, JSONData] | None"

KGMethod: TypeAlias = Literal[
    "relations", "neighbors", "labels", "search_entities", "find_mentions", "describe"
]
METHODS: Final[tuple[KGMethod, ...]] = get_args(KGMethod)

KGResult: TypeAlias = (
    Mapping[EntityId, tuple[RelationId, ...]]
    | Mapping[Hop, tuple[Node, ...]]
    | Mapping[str, str]
    | list[EntityMatch]
    | list[tuple[str, list[EntityMatch]]]
    | Mapping[EntityId, tuple[tuple[RelationId, Node], ...]]
)
"""What an adapter method answers (see `kg_adapters.base.KnowledgeGraph` and its capabilities)."""

_SHOWN_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class KGCall:
    """One adapter call as data: the method name and its arguments as JSON.

    Build one with the constructor named after the method (`KGCall.relations`, ...), so the
    arguments are always encoded the same way.
    """

    method: KGMethod
    args: Mapping[str, JSONData]

    @classmethod
    def relations(
        cls, entities: Sequence[EntityId], *, direction: Direction, limit: int | None = None
    ) -> KGCall:
        """A `KnowledgeGraph.relations` call."""
        return cls(
            "relations", {"entities": list(entities), "direction": direction, "limit": limit}
        )

    @classmethod
    def neighbors(cls, hops: Sequence[Hop], *, limit: int | None = None) -> KGCall:
        """A `KnowledgeGraph.neighbors` call."""
        return cls("neighbors", {"hops": [_encode_hop(h) for h in hops], "limit": limit})

    @classmethod
    def labels(cls, ids: Sequence[str]) -> KGCall:
        """A `KnowledgeGraph.labels` call."""
        return cls("labels", {"ids": list(ids)})

    @classmethod
    def search_entities(cls, text: str, *, limit: int = 10) -> KGCall:
        """A `SupportsEntitySearch.search_entities` call."""
        return cls("search_entities", {"text": text, "limit": limit})

    @classmethod
    def find_mentions(cls, text: str) -> KGCall:
        """A `SupportsMentions.find_mentions` call."""
        return cls("find_mentions", {"text": text})

    @classmethod
    def describe(cls, entities: Sequence[EntityId], *, limit: int = 5) -> KGCall:
        """A `SupportsDescribe.describe` call."""
        return cls("describe", {"entities": list(entities), "limit": limit})

    def key(self) -> str:
        """The call as compact JSON with sorted keys: equal calls give equal keys."""
        data = {"method": self.method, "args": dict(self.args)}
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def __str__(self) -> str:
        """``neighbors(hops=[["Inception", "directed_by", "out"]], limit=5)``, cut if long."""
        args = ", ".join(
            f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in self.args.items()
        )
        text = f"{self.method}({args})"
        return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 4] + "...)"


def encode_node(node: Node) -> JSONData:
    """An entity id as itself, a literal as ``{"literal": ..., "datatype": ..., "language": ...}``.

    >>> encode_node(LiteralValue("2010", datatype="xsd:gYear"))
    {'literal': '2010', 'datatype': 'xsd:gYear', 'language': None}
    """
    if isinstance(node, LiteralValue):
        return {"literal": node.lexical, "datatype": node.datatype, "language": node.language}
    return node


def decode_node(data: JSONData) -> Node:
    """Read `encode_node`'s output back.

    Raises:
        ValueError: ``data`` is not an encoded node.
    """
    if isinstance(data, str):
        return data
    if isinstance(data, dict) and isinstance(data.get("literal"), str):
        datatype, language = data.get("datatype"), data.get("language")
        if (datatype is None or isinstance(datatype, str)) and (
            language is None or isinstance(language, str)
        ):
            return LiteralValue(cast(str, data["literal"]), datatype, language)
    raise ValueError(f"not an encoded node: {data!r}")


def _encode_hop(hop: Hop) -> JSONData:
    return [hop.entity, hop.relation, hop.direction]


def _decode_hop(data: JSONData) -> Hop:
    if (
        isinstance(data, list)
        and len(data) == 3
        and all(isinstance(part, str) for part in data)
        and data[2] in ("out", "in")
    ):
        return Hop(cast(str, data[0]), cast(str, data[1]), cast(Direction, data[2]))
    raise ValueError(f"not an encoded hop: {data!r}")


def _encode_match(match: EntityMatch) -> JSONData:
    return {"id": match.id, "label": match.label, "score": match.score, "exact": match.exact}


def _decode_match(data: JSONData) -> EntityMatch:
    if isinstance(data, dict):
        id_, label, score, exact = (data.get(k) for k in ("id", "label", "score", "exact"))
        if (
            isinstance(id_, str)
            and isinstance(label, str)
            and isinstance(score, int | float)
            and not isinstance(score, bool)
            and isinstance(exact, bool)
        ):
            return EntityMatch(id_, label, score, exact)
    raise ValueError(f"not an encoded entity match: {data!r}")


def encode_result(method: KGMethod, result: object) -> JSONData:
    """An adapter's answer to ``method`` as JSON data (mappings become ``[key, value]`` pairs).

    Raises:
        ValueError: ``method`` is unknown.
    """
    match method:
        case "relations":
            relations = cast(Mapping[EntityId, Sequence[RelationId]], result)
            return [[entity, list(found)] for entity, found in relations.items()]
        case "neighbors":
            neighbors = cast(Mapping[Hop, Sequence[Node]], result)
            return [
                [_encode_hop(hop), [encode_node(n) for n in nodes]]
                for hop, nodes in neighbors.items()
            ]
        case "labels":
            return [[key, label] for key, label in cast(Mapping[str, str], result).items()]
        case "search_entities":
            return [_encode_match(m) for m in cast(Sequence[EntityMatch], result)]
        case "find_mentions":
            mentions = cast(Sequence[tuple[str, Sequence[EntityMatch]]], result)
            return [[text, [_encode_match(m) for m in matches]] for text, matches in mentions]
        case "describe":
            facts = cast(Mapping[EntityId, Sequence[tuple[RelationId, Node]]], result)
            return [
                [entity, [[relation, encode_node(node)] for relation, node in pairs]]
                for entity, pairs in facts.items()
            ]
    raise ValueError(f"unknown KG method {method!r}; expected one of {', '.join(METHODS)}")


def _pairs(data: JSONData) -> list[tuple[JSONData, JSONData]]:
    if not isinstance(data, list):
        raise ValueError(f"expected a list of [key, value] pairs, got {data!r}")
    pairs = []
    for item in data:
        if not (isinstance(item, list) and len(item) == 2):
            raise ValueError(f"expected a [key, value] pair, got {item!r}")
        pairs.append((item[0], item[1]))
    return pairs


def _strings(data: JSONData) -> tuple[str, ...]:
    if isinstance(data, list) and all(isinstance(item, str) for item in data):
        return tuple(cast(list[str], data))
    raise ValueError(f"expected a list of strings, got {data!r}")


def _string(data: JSONData) -> str:
    if isinstance(data, str):
        return data
    raise ValueError(f"expected a string, got {data!r}")


def _list(data: JSONData) -> list[JSONData]:
    if isinstance(data, list):
        return data
    raise ValueError(f"expected a list, got {data!r}")


def _fact(data: JSONData) -> tuple[RelationId, Node]:
    relation, node = _pairs([data])[0]
    return _string(relation), decode_node(node)


def decode_result(method: KGMethod, data: JSONData) -> KGResult:
    """Read `encode_result`'s output back into the adapter's own types.

    Raises:
        ValueError: ``data`` is not an encoded answer to ``method``.
    """
    match method:
        case "relations":
            return {_string(k): _strings(v) for k, v in _pairs(data)}
        case "neighbors":
            return {
                _decode_hop(k): tuple(decode_node(n) for n in _list(v)) for k, v in _pairs(data)
            }
        case "labels":
            return {_string(k): _string(v) for k, v in _pairs(data)}
        case "search_entities":
            return [_decode_match(m) for m in _list(data)]
        case "find_mentions":
            return [(_string(k), [_decode_match(m) for m in _list(v)]) for k, v in _pairs(data)]
        case "describe":
            return {_string(k): tuple(_fact(f) for f in _list(v)) for k, v in _pairs(data)}
    raise ValueError(f"unknown KG method {method!r}; expected one of {', '.join(METHODS)}")
