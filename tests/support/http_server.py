"""A small local HTTP/1.1 server (TLS or plain) that misbehaves on request, for transport tests.

The Cosmos test server always answers well; a transport is judged by what it does when
the other side does not. Each path is one behaviour (see `Handler`), and the server counts
the connections it accepted, so a test can tell a reused connection from a new one.
The certificate is made per test session by `self_signed_certificate`.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["LocalServer", "self_signed_certificate"]

TOGETHER = 8  # requests to /together wait until this many are in flight at once
_WAIT = 10.0  # the longest any handler waits for a test (a failing test must not hang)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost that is its own CA: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cartracker transport tests")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        # What Python 3.13's strict verification (VERIFY_X509_STRICT) wants of a CA.
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class Handler(BaseHTTPRequestHandler):
    """`/json` echoes the request as JSON (and sends a charge and a repeated header); the others:

    `/close` answers with `Connection: close`; with `?stay-open` on any path, the server keeps
    the connection open whatever either side said (so only the client can decide to drop it);
    `/hangup` reads the request and closes without
    answering; `/truncate` promises 100 bytes and sends 10; `/stall` never answers (until the
    server stops); `/chunked` and `/gzip` frame or encode the answer so; `/together` answers
    once `TOGETHER` requests are in flight; `/idle-close` answers, then closes while idle.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the head and the body are two writes: no delayed-ACK stall between
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, body: bytes, *headers: tuple[str, str], status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        if not any(name.lower() == "transfer-encoding" for name, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        body = self._body()
        path = self.path.split("?", 1)[0]
        if path == "/json":
            echo = {"method": self.command, "path": self.path, "headers": dict(self.headers.items())}
            echo["body"] = body.decode("utf-8")
            self._answer(
                json.dumps(echo).encode(),
                ("X-MS-Request-Charge", "2.50"),
                ("X-Repeated", "a"),
                ("X-Repeated", "b"),
            )
        elif path == "/close":
            self._answer(b'{"closing": true}', ("Connection", "close"))
        elif path == "/hangup":
            self.close_connection = True
        elif path == "/truncate":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"cut": "s')
            self.wfile.flush()
            self.close_connection = True
        elif path == "/stall":
            self.server.released.wait(_WAIT)
            self.close_connection = True
        elif path == "/chunked":
            chunks = [b'{"framed": ', b'"in chunks"}']
            framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
            self._answer(framed, ("Transfer-Encoding", "chunked"))
        elif path == "/gzip":
            self._answer(gzip.compress(b'{"compressed": true}'), ("Content-Encoding", "gzip"))
        elif path == "/together":
            self.server.together.wait(_WAIT)
            self._answer(b'{"together": true}')
        elif path == "/idle-close":
            self._answer(b'{"then": "closed"}')
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        else:
            self._answer(b'{"unknown": true}', status=404)
        if "stay-open" in self.path.partition("?")[2]:
            self.close_connection = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        if context is not None:
            # The handshake happens in the handler's thread, so a client that never finishes
            # one cannot block the accepting thread.
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.released = threading.Event()
        self.together = threading.Barrier(TOGETHER)
        self.accepted = 0
        self._count_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        request = super().get_request()
        with self._count_lock:
            self.accepted += 1
        return request

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client hanging up on /stall or during a refused handshake is expected here


class LocalServer:
    """A running `_Server` in a background thread; `tls` gives it the certificate pair."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        context = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
        self._server = _Server(context)
        self.port = int(self._server.server_address[1])
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="local-http", daemon=True
        )
        self._thread.start()

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._server._count_lock:
            return self._server.accepted

    def stop(self) -> None:
        self._server.released.set()
        self._server.together.abort()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=_WAIT)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
