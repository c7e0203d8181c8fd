"""ConceptNet URIs, labels, relation names and language codes: pure functions, no I/O.

One implementation for every ConceptNet reader (the dump index, the web API adapter and corpus
builders), as conceptnet_corpus.md §3 asks. A concept URI is
``/c/<lang>/<text>[/<pos>[/<source>/<sense...>]]``; its *term* is the first three segments and
its label is the third segment with ``_`` as spaces. Never the last segment: that gives ``n`` or
``en_1``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

__all__ = [
    "LANGUAGE_ALIASES",
    "assertion_uri",
    "check_concept_id",
    "check_relation_id",
    "concept_label",
    "expand_languages",
    "is_concept",
    "language_of",
    "relation_id",
    "relation_label",
    "standardize_text",
    "term_of",
]

LANGUAGE_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "ar": ("arb", "ary", "arz"),
    "et": ("vro",),
    "fil": ("tl",),
    "ku": ("ckb",),
    "ms": ("id", "zsm"),
    "no": ("nb", "nn"),
    "sh": ("bs", "hbs", "hr", "sr"),
}
"""ConceptNet's merged language codes (``conceptnet5/languages.py``): canonical code -> aliases.

The 5.7 dump still holds some alias codes (``/c/id/...``), so a language filter matches the whole
group: asking for ``ms`` also keeps ``id`` and ``zsm``, and the reverse.
"""

_GROUP_OF: Final[dict[str, frozenset[str]]] = {
    code: frozenset((canonical, *aliases))
    for canonical, aliases in LANGUAGE_ALIASES.items()
    for code in (canonical, *aliases)
}
_LANGUAGE: Final = re.compile(r"[a-z]{2,3}")
# Characters a concept segment may not hold: ASCII spaces and controls (C0, DEL, C1), and the
# backslash (some servers read it as "/"). Other Unicode spaces occur in real terms (U+202F in
# Mongolian). "/" separates segments by definition.
_BAD_SEGMENT_CHAR: Final = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_CAMEL_BOUNDARY: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def is_concept(uri: str) -> bool:
    """Whether ``uri`` has the shape of a concept URI: ``/c/<lang>/<text>...`` (not validated).

    >>> is_concept("/c/en/dog/n"), is_concept("http://dbpedia.org/resource/Dog")
    (True, False)
    """
    return uri.startswith("/c/") and uri.count("/") >= 3 and uri.split("/", 4)[3] != ""


def term_of(uri: str) -> str:
    """The term of a concept URI: its first three segments, without POS or sense.

    >>> term_of("/c/en/test/n/wikt/en_1")
    '/c/en/test'
    """
    parts = uri.split("/", 4)
    return "/".join(parts[:4])


def language_of(uri: str) -> str:
    """The language code of a concept URI (``""`` when ``uri`` is not a concept).

    >>> language_of("/c/ug/جاڭگال/n")
    'ug'
    """
    if not uri.startswith("/c/"):
        return ""
    return uri.split("/", 3)[2]


def concept_label(uri: str) -> str:
    """A concept's display name: the term's text with ``_`` as spaces, its case kept.

    >>> concept_label("/c/en/ice_cream/n/wn/food"), concept_label("/c/en/Christopher_Nolan")
    ('ice cream', 'Christopher Nolan')
    """
    parts = uri.split("/", 4)
    return parts[3].replace("_", " ").strip() if len(parts) > 3 else ""


def relation_id(name: str) -> str:
    """A relation's URI: the API's short names (``RelatedTo``) get the ``/r/`` prefix.

    >>> relation_id("RelatedTo"), relation_id("/r/IsA"), relation_id("dbpedia/genre")
    ('/r/RelatedTo', '/r/IsA', '/r/dbpedia/genre')
    """
    name = name.strip()
    return name if name.startswith("/r/") else "/r/" + name.lstrip("/")


def relation_label(relation: str) -> str:
    """A relation's display name: the last segment, camel case and ``_`` split, lower case.

    >>> relation_label("/r/CapableOf"), relation_label("/r/dbpedia/genre")
    ('capable of', 'genre')
    >>> relation_label("/r/directed_by"), relation_label("/r/dbpedia/influencedBy")
    ('directed by', 'influenced by')
    """
    name = relation.rstrip("/").rsplit("/", 1)[-1]
    words = _CAMEL_BOUNDARY.sub(" ", name).replace("_", " ")
    return " ".join(words.lower().split())


def assertion_uri(relation: str, start: str, end: str) -> str:
    """The assertion (edge) URI ConceptNet gives an edge.

    >>> assertion_uri("/r/IsA", "/c/en/dog", "/c/en/pet")
    '/a/[/r/IsA/,/c/en/dog/,/c/en/pet/]'
    """
    return f"/a/[{relation}/,{start}/,{end}/]"


def expand_languages(languages: Iterable[str] | None) -> frozenset[str] | None:
    """The language codes a filter keeps: each requested code plus its alias group.

    >>> sorted(expand_languages(["ms", "en"]) or ())
    ['en', 'id', 'ms', 'zsm']
    >>> expand_languages(None) is None
    True

    Args:
        languages: ConceptNet language codes, or None for every language.

    Returns:
        The codes to keep, or None for every language.

    Raises:
        ValueError: A code is not 2 or 3 lowercase ASCII letters, or the filter is a bare string
            or empty.
    """
    if languages is None:
        return None
    if isinstance(languages, str):
        raise ValueError(
            f"languages must be a sequence of codes such as ('en',), not {languages!r}"
        )
    codes: set[str] = set()
    for code in languages:
        if not isinstance(code, str) or not _LANGUAGE.fullmatch(code):
            raise ValueError(f"a ConceptNet language code is 2 or 3 lowercase letters: {code!r}")
        codes |= _GROUP_OF.get(code, {code})
    if not codes:
        raise ValueError("languages must name at least one language, or be None for all")
    return frozenset(codes)


def check_concept_id(uri: str) -> str:
    """Return ``uri`` if it is a well-formed concept URI, else raise ValueError.

    Well-formed: ``/c/<lang>/<text>[/...]`` with a 2-3 letter language, no empty, ``.`` or ``..``
    segment, and no ASCII space, control character or backslash. Callers that build request paths
    from ids check them first, so ``/c/en/../../admin`` never reaches a server.

    >>> check_concept_id("/c/en/dog/n")
    '/c/en/dog/n'
    >>> check_concept_id("/c/en/../../admin")
    Traceback (most recent call last):
    ...
    ValueError: not a ConceptNet concept URI (/c/<lang>/<term>[/...]): '/c/en/../../admin'

    Raises:
        ValueError: The URI is malformed.
    """
    parts = uri.split("/")
    if (
        len(parts) < 4
        or parts[0] != ""
        or parts[1] != "c"
        or not _LANGUAGE.fullmatch(parts[2])
        or any(part in ("", ".", "..") or _BAD_SEGMENT_CHAR.search(part) for part in parts[3:])
    ):
        raise ValueError(f"not a ConceptNet concept URI (/c/<lang>/<term>[/...]): {uri!r}")
    return uri


def check_relation_id(uri: str) -> str:
    """Return ``uri`` if it is a well-formed relation URI (``/r/<Name>[/...]``), else ValueError.

    Raises:
        ValueError: The URI is malformed.
    """
    parts = uri.split("/")
    if (
        len(parts) < 3
        or parts[0] != ""
        or parts[1] != "r"
        or any(part in ("", ".", "..") or _BAD_SEGMENT_CHAR.search(part) for part in parts[2:])
    ):
        raise ValueError(f"not a ConceptNet relation URI (/r/<Name>): {uri!r}")
    return uri


def standardize_text(text: str) -> str:
    """A phrase as a ConceptNet term's text: NFKC, lower case, spaces as ``_``.

    Sentence punctuation at either end is dropped and ``/`` (the segment separator) becomes
    ``_``; ConceptNet's own standardisation also drops English articles, this one does not.

    >>> standardize_text("  Ice Cream?! ")
    'ice_cream'
    >>> standardize_text("?!")
    ''
    """
    text = unicodedata.normalize("NFKC", text).lower().replace("/", " ")
    text = text.strip(" \t\r\n.,;:!?¿¡\"'()[]{}")
    return "_".join(text.split())
