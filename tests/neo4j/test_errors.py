"""Driver exceptions become kg_adapters errors, most specific first, carrying the query."""

from __future__ import annotations

import inspect

import neo4j.exceptions as neo4j_errors
import pytest

from kg_adapters.errors import (
    KGConnectionError,
    KGDataError,
    KGError,
    KGQueryError,
    KGTimeout,
)
from kg_adapters.neo4j_graph import translate_error

# Driver misuse (a closed session, nested transactions) and the abstract bases: the adapter never
# provokes them, so they stay plain KGError.
GENERIC = {"DriverError", "GqlError", "SessionError", "TransactionError", "TransactionNestingError"}


def server_error(code: str, message: str = "boom") -> neo4j_errors.Neo4jError:
    return neo4j_errors.Neo4jError._hydrate_neo4j(code=code, message=message)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (neo4j_errors.ServiceUnavailable("refused"), KGConnectionError),
        (neo4j_errors.SessionExpired("gone"), KGConnectionError),
        (neo4j_errors.ConnectionAcquisitionTimeoutError("pool"), KGTimeout),
        (
            server_error("Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration"),
            KGTimeout,
        ),
        (server_error("Neo.ClientError.Security.Unauthorized"), KGConnectionError),
        (server_error("Neo.TransientError.General.DatabaseUnavailable"), KGConnectionError),
        (server_error("Neo.ClientError.Statement.SyntaxError", "bad"), KGQueryError),
        (server_error("Neo.DatabaseError.General.UnknownError"), KGQueryError),
        (neo4j_errors.BrokenRecordError("broken"), KGDataError),
        (neo4j_errors.ResultConsumedError("consumed"), KGDataError),
        (TimeoutError("slow"), KGTimeout),
        (ConnectionResetError("reset"), KGConnectionError),
    ],
)
def test_mapping(exc: Exception, expected: type[KGError]):
    error = translate_error(exc, query="MATCH (n) RETURN n")
    assert type(error) is expected
    assert error.query == "MATCH (n) RETURN n"
    assert error.adapter == "neo4j"
    assert "\n" not in str(error)


def test_a_rejected_query_names_the_code():
    error = translate_error(server_error("Neo.ClientError.Statement.SyntaxError", "bad"), query="q")
    assert isinstance(error, KGQueryError)
    assert error.detail == "Neo.ClientError.Statement.SyntaxError: bad"
    assert str(error) == "neo4j: the server rejected the query: " + error.detail


def test_every_driver_exception_is_mapped():
    names = []
    for name, cls in vars(neo4j_errors).items():
        if (
            inspect.isclass(cls)
            and issubclass(cls, Exception)
            and cls.__module__.startswith("neo4j")
        ):
            error = translate_error(cls("boom"), query="q")
            assert isinstance(error, KGError), name
            if name not in GENERIC:
                assert type(error) is not KGError, f"{name} is not mapped"
            names.append(name)
    assert len(names) > 30
