"""Fixtures: fake providers, the real switchyard server, and clients of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import CLIENT_TOKEN, FakeProviders, SwitchyardProcess, standard_config, switchyard_bin

from switchyard_client import SwitchyardClient

PROVIDERS = ["main", "codex", "cheap"]
#: gRPC options of the test clients: loopback only, whatever proxy the machine has.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]


@pytest.fixture(scope="session")
def binary() -> Path:
    path = switchyard_bin()
    if not path.is_file():
        pytest.fail(
            f"switchyard binary not found at {path}: build it with "
            "`cargo build -p switchyard` or set SWITCHYARD_BIN",
            pytrace=False,
        )
    return path


@pytest.fixture
def fakes() -> Iterator[FakeProviders]:
    f = FakeProviders(PROVIDERS)
    yield f
    f.close()


@pytest.fixture
def server(binary: Path, fakes: FakeProviders, tmp_path: Path) -> Iterator[SwitchyardProcess]:
    """The real server on 127.0.0.1:0 with a fresh SQLite file, one key per
    provider (`<provider>-k1`, secret `secret-of-<provider>-k1`), and caller auth
    on: every call needs `CLIENT_TOKEN`."""
    proc = SwitchyardProcess(binary, tmp_path, standard_config(fakes, tmp_path / "switchyard.db"))
    for provider in PROVIDERS:
        proc.add_credential(provider, f"{provider}-k1", f"secret-of-{provider}-k1")
    proc.start()
    yield proc
    assert proc.stop() == 0, "switchyard did not stop cleanly on SIGTERM:\n" + proc.log.read_text()


@pytest.fixture
def client(server: SwitchyardProcess) -> Iterator[SwitchyardClient]:
    """A client of `server` whose default token is `CLIENT_TOKEN`: every test that
    uses it also proves the token is sent."""
    with SwitchyardClient(server.address, token=CLIENT_TOKEN, options=CHANNEL_OPTIONS) as c:
        yield c
