"""Telemetry is the Functions host's job: the app opens no connection and starts no exporter thread,
at import time or while it serves a command, whether or not Application Insights is configured.

Each case runs in a fresh interpreter, so that no module imported by another test hides an import
or a thread (docs/operations.md says why the app adds no telemetry SDK of its own).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, socket, sys, threading

connections = []

def refuse(self, address, *args):
    connections.append(repr(address))
    raise OSError("this test allows no network")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse

import function_app  # what the Functions host imports
imported = sorted(name for name in sys.modules if name.startswith(TELEMETRY))
threads_after_import = sorted(t.name for t in threading.enumerate())

import azure.functions as func
from cartracker import bootstrap
from cartracker.functions.commands import add_car
from cartracker.settings import Settings

bootstrap.use(bootstrap.bootstrap(Settings.from_env({"CARTRACKER_STORE": "sqlite",
                                                     "CARTRACKER_SQLITE_PATH": sys.argv[1]})))
answer = add_car(func.HttpRequest("POST", "http://localhost/api/cars",
                                  headers={"Content-Type": "application/json"},
                                  body=b'{"make": "Saab", "model": "900", "owner": "Eve"}'))
print(json.dumps({
    "status": answer.status_code,
    "connections": connections,
    "telemetry_modules": imported + sorted(n for n in sys.modules if n.startswith(TELEMETRY)),
    "threads_after_import": threads_after_import,
    "threads_after_command": sorted(t.name for t in threading.enumerate()),
}))
""".replace(
    # The OpenTelemetry *API* is imported (azure-functions-durable uses it); without an SDK it is a
    # no-op. An SDK or an exporter loaded by the app would be the app exporting telemetry itself.
    "TELEMETRY",
    repr(
        ("opentelemetry.sdk", "opentelemetry.exporter", "azure.monitor", "applicationinsights", "opencensus")
    ),
)

# The nil UUID names no resource, and the endpoints are a closed loopback port: nothing to reach.
CONNECTION_STRING = (
    f"InstrumentationKey={uuid.UUID(int=0)};"
    "IngestionEndpoint=https://127.0.0.1:9/;LiveEndpoint=https://127.0.0.1:9/"
)


@pytest.mark.parametrize("connection_string", [None, CONNECTION_STRING], ids=["unset", "set"])
def test_no_connection_and_no_exporter_thread_at_import_or_while_serving(
    tmp_path: Path, connection_string: str | None
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    if connection_string is not None:
        env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = connection_string
    # As in Azure: the Cosmos DB store, configured, so that importing it would show any eager client.
    env.update(CARTRACKER_STORE="cosmos", COSMOS_CONNECTION__accountEndpoint="https://127.0.0.1:9/")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "store.sqlite3")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["status"] == 201
    assert seen["connections"] == []
    assert seen["telemetry_modules"] == []
    assert seen["threads_after_import"] == ["MainThread"]
    assert seen["threads_after_command"] == ["MainThread"]
