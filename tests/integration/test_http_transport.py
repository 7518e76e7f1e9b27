"""The app's HTTP transport keeps connections alive, verifies TLS, and fails the way the SDK's retries expect.

Most tests talk to a local server that misbehaves on request (`tests/support/http_server.py`);
the last ones drive the real Cosmos SDK against the Cosmos test server through this transport
alone, no test adapter in between.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from time import monotonic

import pytest
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline import Pipeline
from azure.core.pipeline.policies import CustomHookPolicy
from azure.core.pipeline.transport import HttpRequest
from azure.cosmos import CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from cartracker import request_charge
from cartracker.adapters.http_transport import HttpClientTransport
from cartracker.settings import EMULATOR_KEY
from tests.support.cosmos import CosmosServer
from tests.support.http_server import TOGETHER, LocalServer, self_signed_certificate


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(certificate: tuple[Path, Path]) -> Iterator[LocalServer]:
    with LocalServer(tls=certificate) as running:
        yield running


@pytest.fixture
def transport(certificate: tuple[Path, Path]) -> Iterator[HttpClientTransport]:
    """Trusts the test certificate as its CA, so TLS is verified as in production."""
    with HttpClientTransport(
        connection_verify=str(certificate[0]), connection_timeout=10, read_timeout=10
    ) as t:
        yield t


def get(server: LocalServer, path: str) -> HttpRequest:
    return HttpRequest("GET", f"{server.base}{path}")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = monotonic() + timeout
    while not condition():
        if monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        threading.Event().wait(0.01)


def test_sequential_requests_share_one_connection_and_one_tls_handshake(
    server: LocalServer, transport: HttpClientTransport
) -> None:
    for _ in range(20):
        assert transport.send(get(server, "/json")).status_code == 200
    assert server.connections == 1


def test_the_answer_is_a_complete_azure_core_response(
    server: LocalServer, transport: HttpClientTransport
) -> None:
    request = HttpRequest("PUT", f"{server.base}/json?x=1", data='{"owner": "Zoë 李"}')
    request.headers["x-ms-documentdb-partitionkey"] = '["car-1"]'
    response = transport.send(request)

    assert (response.status_code, response.reason, response.request) == (200, "OK", request)
    assert response.headers["content-type"] == response.headers["Content-Type"] == "application/json"
    assert response.headers["x-ms-request-charge"] == "2.50"
    assert response.headers["X-Repeated"] == "a, b"
    echo = json.loads(response.text())
    assert echo["body"] == '{"owner": "Zoë 李"}'  # sent as UTF-8, Content-Length in bytes
    assert echo["path"] == "/json?x=1"
    assert echo["headers"]["x-ms-documentdb-partitionkey"] == '["car-1"]'
    assert echo["headers"]["Host"] == f"127.0.0.1:{server.port}"
    assert response.body() == b"".join(response.stream_download(None))  # type: ignore[arg-type]


def test_the_request_charge_hook_sees_the_header(server: LocalServer, transport: HttpClientTransport) -> None:
    pipeline = Pipeline(transport, [CustomHookPolicy(raw_response_hook=request_charge.record_response)])
    with request_charge.metered() as meter:
        pipeline.run(get(server, "/json"))
        pipeline.run(get(server, "/json"))
    assert (meter.responses, meter.charged, meter.request_units) == (2, 2, 5.0)


def test_chunked_and_gzip_answers_are_read_whole(server: LocalServer, transport: HttpClientTransport) -> None:
    assert json.loads(transport.send(get(server, "/chunked")).body()) == {"framed": "in chunks"}
    assert json.loads(transport.send(get(server, "/gzip")).body()) == {"compressed": True}
    assert server.connections == 1


def test_eight_threads_send_at_once_on_eight_connections_then_reuse_them(
    server: LocalServer, transport: HttpClientTransport
) -> None:
    with ThreadPoolExecutor(TOGETHER) as pool:
        # /together answers only once all eight are in flight: each needs a connection of its own.
        statuses = list(
            pool.map(lambda _: transport.send(get(server, "/together")).status_code, range(TOGETHER))
        )
        assert statuses == [200] * TOGETHER
        assert server.connections == TOGETHER
        more = list(pool.map(lambda _: transport.send(get(server, "/json")).status_code, range(4 * TOGETHER)))
    assert more == [200] * (4 * TOGETHER)
    assert server.connections == TOGETHER


def test_a_server_that_closes_without_answering_is_a_response_error_and_the_next_request_reconnects(
    server: LocalServer, transport: HttpClientTransport
) -> None:
    assert transport.send(get(server, "/json")).status_code == 200
    with pytest.raises(ServiceResponseError) as info:
        transport.send(HttpRequest("POST", f"{server.base}/hangup", data=b"{}"))
    assert not isinstance(info.value, ServiceResponseTimeoutError)
    assert transport.send(get(server, "/json")).status_code == 200
    assert server.connections == 2  # the broken connection was not reused


def test_an_answer_cut_short_is_a_response_error_and_its_connection_is_dropped(
    server: LocalServer, transport: HttpClientTransport
) -> None:
    with pytest.raises(ServiceResponseError):
        transport.send(get(server, "/truncate"))
    assert transport.send(get(server, "/json")).status_code == 200
    assert server.connections == 2


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    server: LocalServer, transport: HttpClientTransport
) -> None:
    assert transport.send(get(server, "/idle-close")).status_code == 200
    # Wait for the server's FIN to reach the pooled socket (looking into the pool), not for a time.
    idle = [c.sock for connections in transport._idle.values() for c in connections]
    wait_until(lambda: all(_readable(sock) for sock in idle), "the server's close reaches the client")
    assert transport.send(get(server, "/json")).status_code == 200
    assert server.connections == 2


def test_a_connection_idle_for_longer_than_max_idle_is_not_reused(
    server: LocalServer, certificate: tuple[Path, Path]
) -> None:
    with HttpClientTransport(connection_verify=str(certificate[0]), max_idle=0) as transport:
        for _ in range(3):
            assert transport.send(get(server, "/json?stay-open")).status_code == 200
    assert server.connections == 3


def test_an_answer_with_connection_close_ends_the_connection(
    server: LocalServer, transport: HttpClientTransport
) -> None:
    # The server says close but keeps the socket open: reusing it would go unnoticed.
    assert transport.send(get(server, "/close?stay-open")).status_code == 200
    assert transport.send(get(server, "/json")).status_code == 200
    assert server.connections == 2


def test_a_request_with_connection_close_ends_the_connection(
    server: LocalServer, transport: HttpClientTransport
) -> None:
    request = get(server, "/json?stay-open")
    request.headers["Connection"] = "close"
    assert transport.send(request).status_code == 200
    assert transport.send(get(server, "/json")).status_code == 200
    assert server.connections == 2


def test_no_answer_in_time_is_a_response_timeout(server: LocalServer, transport: HttpClientTransport) -> None:
    with pytest.raises(ServiceResponseTimeoutError):
        transport.send(get(server, "/stall"), read_timeout=0.2)
    assert transport.send(get(server, "/json")).status_code == 200
    assert server.connections == 2


def test_a_tls_handshake_that_never_completes_is_a_request_timeout() -> None:
    with socket.socket() as silent:  # listens, the kernel accepts, nobody ever speaks TLS
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with HttpClientTransport() as transport, pytest.raises(ServiceRequestTimeoutError):
            transport.send(HttpRequest("GET", f"https://127.0.0.1:{port}/"), connection_timeout=0.2)


def test_a_refused_connection_is_a_request_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with HttpClientTransport() as transport, pytest.raises(ServiceRequestError):
        transport.send(HttpRequest("GET", f"https://127.0.0.1:{port}/"))


def test_tls_is_verified_by_default_and_a_self_signed_server_is_refused(server: LocalServer) -> None:
    with HttpClientTransport() as transport, pytest.raises(ServiceRequestError) as info:
        transport.send(get(server, "/json"))
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    with HttpClientTransport(connection_verify=False) as unverified:
        assert unverified.send(get(server, "/json")).status_code == 200
    with HttpClientTransport() as transport:  # or per request, as the SDK passes it
        assert transport.send(get(server, "/json"), connection_verify=False).status_code == 200


def test_a_ca_bundle_that_cannot_be_read_is_a_configuration_error_not_a_retry(
    server: LocalServer, tmp_path: Path
) -> None:
    transport = HttpClientTransport(connection_verify=str(tmp_path / "missing.pem"))
    with transport, pytest.raises(FileNotFoundError):
        transport.send(get(server, "/json"))
    assert server.connections == 0


def test_a_verified_and_an_unverified_request_never_share_a_connection(
    server: LocalServer, transport: HttpClientTransport
) -> None:
    transport.send(get(server, "/json"), connection_verify=False)
    with pytest.raises(ServiceRequestError):
        transport.send(get(server, "/json"), connection_verify=True)


def test_plain_http_works_too() -> None:
    with LocalServer() as plain, HttpClientTransport() as transport:
        for _ in range(3):
            assert transport.send(get(plain, "/json")).status_code == 200
        assert plain.connections == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Injected", "a\r\nX-Evil: 1"), ("X-Injected", "a\nb"), ("X-Null", "a\x00b"), ("Bad Name", "x")],
)
def test_a_header_that_could_smuggle_another_is_refused_before_sending(
    server: LocalServer, transport: HttpClientTransport, name: str, value: str
) -> None:
    request = get(server, "/json")
    request.headers[name] = value
    with pytest.raises(ValueError, match=r"CR, LF or NUL|header name"):
        transport.send(request)
    assert server.connections == 0  # checked before connecting


def test_a_content_length_that_does_not_match_the_body_is_refused(
    server: LocalServer, transport: HttpClientTransport
) -> None:
    request = HttpRequest("POST", f"{server.base}/json", data=b"12345")
    request.headers["Content-Length"] = "3"
    with pytest.raises(ValueError, match="Content-Length"):
        transport.send(request)


def test_proxies_are_refused_rather_than_ignored(server: LocalServer, transport: HttpClientTransport) -> None:
    with pytest.raises(ValueError, match="proxies"):
        transport.send(get(server, "/json"), proxies={"https": "http://proxy:3128"})


def test_a_closed_transport_refuses_to_send(server: LocalServer, certificate: tuple[Path, Path]) -> None:
    transport = HttpClientTransport(connection_verify=str(certificate[0]))
    with transport:
        transport.send(get(server, "/json"))
    with pytest.raises(ValueError, match="closed"):
        transport.send(get(server, "/json"))


# --- the Cosmos SDK through this transport alone -------------------------------------------


@pytest.fixture
def cosmos_client(cosmos_server: CosmosServer) -> Iterator[CosmosClient]:
    client = CosmosClient(
        cosmos_server.endpoint,
        credential=EMULATOR_KEY,
        transport=HttpClientTransport(),
        connection_verify=False,
        retry_total=0,
    )
    yield client
    client.close()


def test_the_cosmos_sdk_writes_reads_and_misses_through_it(cosmos_client: CosmosClient) -> None:
    database = cosmos_client.create_database(f"transport-{uuid.uuid4().hex[:8]}")
    try:
        container = database.create_container("items", partition_key=PartitionKey(path="/pk"))
        container.create_item({"id": "a", "pk": "p", "owner": "Zoë 李"})
        assert container.read_item("a", partition_key="p")["owner"] == "Zoë 李"
        with pytest.raises(CosmosResourceNotFoundError):  # (a missing item crashes this server: a 500)
            database.get_container_client("missing").read()

        def write_and_read(n: int) -> str:
            container.upsert_item({"id": f"item-{n}", "pk": f"p{n % 3}", "n": n})
            return str(container.read_item(f"item-{n}", partition_key=f"p{n % 3}")["n"])

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(write_and_read, range(64))) == [str(n) for n in range(64)]
    finally:
        cosmos_client.delete_database(database)


def test_the_cosmos_test_servers_certificate_is_refused_unless_verification_is_off(
    cosmos_server: CosmosServer,
) -> None:
    # The SDK turns verification off for 127.0.0.1 itself; sent directly, the default verifies.
    with HttpClientTransport() as transport:
        with pytest.raises(ServiceRequestError):
            transport.send(HttpRequest("GET", cosmos_server.endpoint))
        assert transport.send(
            HttpRequest("GET", cosmos_server.endpoint), connection_verify=False
        ).status_code in (
            200,
            401,
        )


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])
