"""checkov finds nothing to fix in infra/, and every exception is written down where it applies.

checkov pins many packages of its own, so `make test` installs it into a venv of its own; this
test runs that copy and fails (never skips) when it is missing, so a green run always includes it.
A skip counts only with a reason next to the resource: `// checkov:skip=CKV_...: why`.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.infra.bicep_model import INFRA_DIR, REPO_ROOT

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def run_checkov() -> dict[str, Any]:
    assert CHECKOV.is_file(), "checkov is not installed: run `make checkov`"
    # --skip-download keeps it offline: no policy or version fetch, only the checks it ships with.
    command = [str(CHECKOV), "--directory", str(INFRA_DIR), "--framework", "bicep", "--skip-download"]
    completed = subprocess.run(
        [*command, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO_ROOT,
    )
    assert completed.stdout.strip(), f"checkov printed nothing:\n{completed.stderr[-2000:]}"
    report = json.loads(completed.stdout)
    # With a single framework checkov prints one report; guard against the list form too.
    (bicep,) = report if isinstance(report, list) else [report]
    assert bicep["check_type"] == "bicep"
    return dict(bicep)


def test_checkov_passes_with_only_justified_skips() -> None:
    report = run_checkov()
    summary, results = report["summary"], report["results"]
    failed = [f"{check['check_id']} {check['resource']}" for check in results["failed_checks"]]
    assert failed == [], "checkov failed:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0, results.get("parsing_errors")
    checked_files = {check["file_path"].lstrip("/") for check in results["passed_checks"]}
    assert {"app/cosmos.bicep", "app/function.bicep", "app/storage.bicep"} <= checked_files
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "").strip()
        assert reason, f"{check['check_id']} skipped without a reason"
        assert reason != "No comment provided", f"{check['check_id']} skipped without a reason"
