"""The small subset of JSON Schema that `tog.llm.structured` emits: check, validate, coerce.

Internal. The stand-in server uses it to refuse malformed schemas (as vLLM answers HTTP 400), to
shape its replies the way a constrained decoder would, and to prove each reply matches. Keywords
outside `KEYWORDS` are refused rather than ignored, so nothing is silently left unenforced.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Final, cast

from tog.llm.base import JSONValue

__all__ = ["KEYWORDS", "check_schema", "coerce", "validate"]

Schema = Mapping[str, JSONValue]

TYPES: Final = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
KEYWORDS: Final = frozenset(
    {
        "$schema",
        "additionalProperties",
        "anyOf",
        "const",
        "description",
        "enum",
        "items",
        "maxItems",
        "maxLength",
        "maximum",
        "minItems",
        "minLength",
        "minimum",
        "prefixItems",
        "properties",
        "required",
        "title",
        "type",
    }
)


# --- checking a schema ---------------------------------------------------------------------------


def check_schema(schema: object, path: str = "$") -> None:
    """Check that ``schema`` is well formed and uses only `KEYWORDS`.

    Raises:
        ValueError: naming the first problem and where it is (``$.properties.choices``).
    """
    if not isinstance(schema, dict):
        raise ValueError(f"{path}: a schema must be a JSON object, got {_kind(schema)}")
    unknown = sorted(set(schema) - KEYWORDS)
    if unknown:
        raise ValueError(f"{path}: unsupported JSON-schema keyword {unknown[0]!r}")
    kind = schema.get("type")
    if kind is not None:
        names = kind if isinstance(kind, list) else [kind]
        if not names or not all(isinstance(n, str) and n in TYPES for n in names):
            raise ValueError(f"{path}.type: {kind!r} is not one of {sorted(TYPES)}")
    for key in ("minimum", "maximum"):
        if key in schema and not _is_number(schema[key]):
            raise ValueError(f"{path}.{key}: must be a number")
    for key in ("minItems", "maxItems", "minLength", "maxLength"):
        value = schema.get(key, 0)
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise ValueError(f"{path}.{key}: must be a non-negative integer")
    if "enum" in schema:
        enum = schema["enum"]
        if not isinstance(enum, list) or not enum:
            raise ValueError(f"{path}.enum: must be a non-empty array")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ValueError(f"{path}.properties: must be an object")
    for name, sub in properties.items():
        check_schema(sub, f"{path}.properties.{name}")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError(f"{path}.required: must be an array of strings")
    for key in ("additionalProperties", "items"):
        if key in schema and not isinstance(schema[key], bool):
            check_schema(schema[key], f"{path}.{key}")
    for key in ("prefixItems", "anyOf"):
        if key not in schema:
            continue
        branches = schema[key]
        if not isinstance(branches, list) or not branches:
            raise ValueError(f"{path}.{key}: must be a non-empty array of schemas")
        for k, sub in enumerate(branches):
            check_schema(sub, f"{path}.{key}[{k}]")


# --- validating an instance ----------------------------------------------------------------------


def validate(instance: JSONValue, schema: Schema, path: str = "$") -> list[str]:
    """Every way ``instance`` breaks ``schema`` (a checked schema); empty when it matches."""
    errors: list[str] = []
    if "const" in schema and not _equal(instance, schema["const"]):
        errors.append(f"{path}: must be {json.dumps(schema['const'])}")
    if "enum" in schema:
        options = cast(list[JSONValue], schema["enum"])
        if not any(_equal(instance, option) for option in options):
            errors.append(f"{path}: {json.dumps(instance)} is not one of {json.dumps(options)}")
    if "anyOf" in schema:
        branches = cast(list[Schema], schema["anyOf"])
        if all(validate(instance, branch, path) for branch in branches):
            errors.append(f"{path}: matches none of the anyOf branches")
    names = _types(schema)
    if names and not any(_is_type(instance, name) for name in names):
        return [*errors, f"{path}: expected {' or '.join(names)}, got {_kind(instance)}"]
    if isinstance(instance, dict):
        errors += _validate_object(instance, schema, path)
    elif isinstance(instance, list):
        errors += _validate_array(instance, schema, path)
    elif isinstance(instance, str):
        if len(instance) > _int(schema, "maxLength", len(instance)):
            errors.append(f"{path}: longer than {schema['maxLength']} characters")
        if len(instance) < _int(schema, "minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']} characters")
    elif _is_number(instance):
        number = float(cast(float, instance))
        if "minimum" in schema and number < float(cast(float, schema["minimum"])):
            errors.append(f"{path}: below the minimum {schema['minimum']}")
        if "maximum" in schema and number > float(cast(float, schema["maximum"])):
            errors.append(f"{path}: above the maximum {schema['maximum']}")
    return errors


def _validate_object(instance: dict[str, JSONValue], schema: Schema, path: str) -> list[str]:
    errors: list[str] = []
    properties = cast(Mapping[str, Schema], schema.get("properties", {}))
    for name in cast(list[str], schema.get("required", [])):
        if name not in instance:
            errors.append(f"{path}: missing required property {name!r}")
    extra = schema.get("additionalProperties", True)
    for name, value in instance.items():
        if name in properties:
            errors += validate(value, properties[name], f"{path}.{name}")
        elif extra is False:
            errors.append(f"{path}: unexpected property {name!r}")
        elif isinstance(extra, dict):
            errors += validate(value, extra, f"{path}.{name}")
    return errors


def _validate_array(instance: list[JSONValue], schema: Schema, path: str) -> list[str]:
    errors: list[str] = []
    if len(instance) < _int(schema, "minItems", 0):
        errors.append(f"{path}: fewer than {schema['minItems']} items")
    if len(instance) > _int(schema, "maxItems", len(instance)):
        errors.append(f"{path}: more than {schema['maxItems']} items")
    prefix = cast(list[Schema], schema.get("prefixItems", []))
    items = schema.get("items", True)
    for k, value in enumerate(instance):
        where = f"{path}[{k}]"
        if k < len(prefix):
            errors += validate(value, prefix[k], where)
        elif items is False:
            errors.append(f"{where}: no item allowed here")
        elif isinstance(items, dict):
            errors += validate(value, items, where)
    return errors


# --- coercing a value ----------------------------------------------------------------------------


def coerce(value: JSONValue, schema: Schema) -> JSONValue:
    """The value nearest to ``value`` that matches ``schema``, as a constrained decoder would give.

    Matching parts are kept; a missing required property gets the schema's simplest value, an enum
    falls back to its first option, numbers are clamped, strings and arrays are cut to length.
    """
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        options = cast(list[JSONValue], schema["enum"])
        return next((o for o in options if _equal(value, o)), options[0])
    if "anyOf" in schema:
        branches = cast(list[Schema], schema["anyOf"])
        if any(not validate(value, branch) for branch in branches):
            return value
        return coerce(value, branches[0])
    names = _types(schema)
    if not names:
        return value
    kind = next((name for name in names if _is_type(value, name)), names[0])
    if kind == "object":
        return _coerce_object(value, schema)
    if kind == "array":
        return _coerce_array(value, schema)
    if kind == "string":
        return _coerce_string(value, schema)
    if kind in ("number", "integer"):
        return _coerce_number(value, schema, integer=kind == "integer")
    if kind == "boolean":
        return value if isinstance(value, bool) else False
    return None


def _coerce_object(value: JSONValue, schema: Schema) -> dict[str, JSONValue]:
    source = value if isinstance(value, dict) else {}
    properties = cast(Mapping[str, Schema], schema.get("properties", {}))
    required = cast(list[str], schema.get("required", []))
    extra = schema.get("additionalProperties", True)
    out: dict[str, JSONValue] = {}
    for name, sub in properties.items():
        if name in source:
            out[name] = coerce(source[name], sub)
        elif name in required:
            out[name] = coerce(None, sub)
    for name, item in source.items():
        if name in properties or extra is False:
            continue
        out[name] = coerce(item, extra) if isinstance(extra, dict) else item
    for name in required:
        if name not in out:
            out[name] = coerce(None, extra) if isinstance(extra, dict) else None
    return out


def _coerce_array(value: JSONValue, schema: Schema) -> list[JSONValue]:
    source = value if isinstance(value, list) else []
    prefix = cast(list[Schema], schema.get("prefixItems", []))
    items = schema.get("items", True)
    slots = min(len(prefix), max(len(source), _int(schema, "minItems", 0)))
    out, unused = _fill_prefix(source, prefix[:slots])
    if items is not False:
        out += [coerce(v, items) for v in unused] if isinstance(items, dict) else unused
    out = out[: _int(schema, "maxItems", len(out))]
    while len(out) < _int(schema, "minItems", 0):
        if len(out) < len(prefix):
            out.append(coerce(None, prefix[len(out)]))
        else:
            out.append(coerce(None, items) if isinstance(items, dict) else None)
    return out


def _fill_prefix(
    source: list[JSONValue], prefix: list[Schema]
) -> tuple[list[JSONValue], list[JSONValue]]:
    """Fill the ``prefix`` slots from ``source``; returns the slots and the items left over.

    A slot takes the first unused item that matches it, else the first whose enum and const
    properties fit it (``{"candidate": 2, "score": 7}`` goes to candidate 2's slot, score
    clamped), else the first unused item that fits no slot, else the slot's simplest value.
    """
    unused = list(range(len(source)))

    def take(test: Callable[[JSONValue, Schema], bool], slot: Schema) -> int | None:
        return next((k for k in unused if test(source[k], slot)), None)

    def fits_nowhere(item: JSONValue, slot: Schema) -> bool:
        return not any(_keys_fit(item, other) for other in prefix)

    out: list[JSONValue] = []
    for slot in prefix:
        pick = take(lambda v, p: not validate(v, p), slot)
        if pick is None:
            pick = take(_keys_fit, slot)
        if pick is None:
            pick = take(fits_nowhere, slot)
        if pick is None:
            out.append(coerce(None, slot))
            continue
        unused.remove(pick)
        out.append(coerce(source[pick], slot))
    return out, [source[k] for k in unused]


def _keys_fit(item: JSONValue, slot: Schema) -> bool:
    """An object whose enum- and const-constrained properties all hold allowed values."""
    properties = cast(Mapping[str, Schema], slot.get("properties", {}))
    keyed = [(name, sub) for name, sub in properties.items() if "enum" in sub or "const" in sub]
    if not isinstance(item, dict) or not keyed:
        return False
    return all(name in item and not validate(item[name], sub) for name, sub in keyed)


def _coerce_string(value: JSONValue, schema: Schema) -> str:
    if isinstance(value, str):
        text = value
    elif value is None:
        text = ""
    else:
        text = json.dumps(value, ensure_ascii=False)
    text = text[: _int(schema, "maxLength", len(text))]
    return text.ljust(_int(schema, "minLength", 0))


def _coerce_number(value: JSONValue, schema: Schema, *, integer: bool) -> int | float:
    number: float | None = None
    if _is_number(value):
        number = float(cast(float, value))
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    low = float(cast(float, schema["minimum"])) if "minimum" in schema else -math.inf
    high = float(cast(float, schema["maximum"])) if "maximum" in schema else math.inf
    if number is None or not math.isfinite(number):
        number = low if math.isfinite(low) else 0.0
    number = min(max(number, low), high)
    if not integer:
        return number
    whole = round(number)
    if math.isfinite(low):
        whole = max(whole, math.ceil(low))
    if math.isfinite(high):
        whole = min(whole, math.floor(high))
    return whole


# --- helpers -------------------------------------------------------------------------------------


def _types(schema: Schema) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return []


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_type(value: object, name: str) -> bool:
    match name:
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
        case "string":
            return isinstance(value, str)
        case "number":
            return _is_number(value) and math.isfinite(cast(float, value))
        case "integer":
            return _is_number(value) and float(cast(float, value)).is_integer()
        case "boolean":
            return isinstance(value, bool)
        case "null":
            return value is None
    return False


def _equal(a: object, b: object) -> bool:
    """JSON equality: ``1 == 1.0`` but ``True != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return float(cast(float, a)) == float(cast(float, b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _int(schema: Schema, key: str, default: int) -> int:
    value = schema.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "array"
    return {dict: "object", str: "string", int: "integer", float: "number"}.get(
        type(value), type(value).__name__
    )
