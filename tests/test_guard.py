"""The suite's network guard (tests/conftest.py) really refuses non-loopback addresses."""

from __future__ import annotations

import socket

import httpx
import pytest


def test_guard_refuses_non_loopback_sockets() -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="loopback"):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: documentation range, never contacted


def test_guard_refuses_non_loopback_http() -> None:
    with httpx.Client() as client, pytest.raises(httpx.ConnectError, match="loopback"):
        client.get("http://192.0.2.1:9/")


def test_guard_allows_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())
