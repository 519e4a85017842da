"""The shared test helpers that decide outcomes themselves: the network guard must refuse what leaves the machine."""

import socket

import pytest

from tests.helpers import OffMachineConnection, network_guard


def test_the_network_guard_refuses_and_records_traffic_off_the_machine():
    # 192.0.2.1 is TEST-NET-1 (never routed); the guard refuses before any packet is sent.
    with network_guard() as refused:
        with pytest.raises(OffMachineConnection), socket.socket() as sock:
            sock.connect(("192.0.2.1", 80))
        with pytest.raises(OffMachineConnection):
            socket.create_connection(("example.invalid", 443), timeout=1)
        with pytest.raises(OffMachineConnection), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"x", ("192.0.2.1", 53))
    assert refused == ["connect ('192.0.2.1', 80)", "lookup 'example.invalid'", "sendto ('192.0.2.1', 53)"]


def test_the_network_guard_lets_loopback_through_and_restores_the_socket_module():
    connect = socket.socket.connect
    with network_guard() as refused, socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            accepted, _ = server.accept()
            accepted.close()
        with socket.create_connection(("localhost", server.getsockname()[1]), timeout=5):
            pass
    assert refused == []
    assert socket.socket.connect is connect


def test_no_test_module_imports_another_or_the_benchmarks():
    """Shared helpers live in tests/helpers.py (and the loopback servers), so each test module stands alone;
    only tests/test_benchmarks.py, which tests the benchmarks, imports them."""
    import ast

    from tests.helpers import ROOT

    offending = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith(("tests.test_", "tests.conftest")) or (
                    name.split(".")[0] == "benchmarks" and path.name != "test_benchmarks.py"
                ):
                    offending.append(f"{path.name}: {name}")
    assert offending == []
