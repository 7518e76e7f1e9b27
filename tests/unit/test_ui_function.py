"""The web page's functions, called the way the Functions worker calls them: with `func.HttpRequest`."""

from __future__ import annotations

import json
import re

import azure.functions as func
import pytest

from cartracker.functions.ui import ASSETS, ui_asset, ui_page

BASE = "http://localhost:7071/api"


def get(path: str, *, asset: str | None = None, headers: dict[str, str] | None = None) -> func.HttpResponse:
    request = func.HttpRequest(
        "GET",
        f"{BASE}/{path}",
        headers=headers or {},
        route_params={} if asset is None else {"asset": asset},
        body=b"",
    )
    response: func.HttpResponse = ui_page(request) if asset is None else ui_asset(request)
    return response


def csp_directives(response: func.HttpResponse) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


def test_the_page_is_html_with_a_strict_content_security_policy() -> None:
    response = get("ui")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.get_body().startswith(b"<!doctype html>")
    directives = csp_directives(response)
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["require-trusted-types-for"] == "'script'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")],
)
def test_each_asset_is_served_with_its_content_type(asset: str, content_type: str) -> None:
    response = get(f"ui/{asset}", asset=asset)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.mimetype == content_type.partition(";")[0]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert len(response.get_body()) > 100


@pytest.mark.parametrize("asset", ["secrets.txt", "..", "%2e%2e", "__init__.py", "APP.JS", "app.js.map"])
def test_a_file_outside_the_whitelist_is_a_404_problem(asset: str) -> None:
    response = get(f"ui/{asset}", asset=asset)

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    problem = json.loads(response.get_body())
    assert problem["status"] == 404
    assert problem["errors"][0]["field"] == "asset"
    assert "app.js" in problem["errors"][0]["message"]


def test_an_unchanged_file_is_a_304_by_etag() -> None:
    first = get("ui/app.js", asset="app.js")
    etag = first.headers["ETag"]

    again = get("ui/app.js", asset="app.js", headers={"If-None-Match": f'W/"other", {etag}'})
    changed = get("ui/app.js", asset="app.js", headers={"If-None-Match": '"something-else"'})

    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert again.status_code == 304
    assert again.get_body() == b""
    assert again.headers["ETag"] == etag
    assert changed.status_code == 200


def test_the_page_with_a_trailing_slash_redirects_to_where_its_relative_links_resolve() -> None:
    response = get("ui/")

    assert response.status_code == 308
    assert response.headers["Location"] == "/api/ui"


def test_the_page_links_only_whitelisted_files_and_has_no_inline_code() -> None:
    html = get("ui").get_body().decode()

    linked = set(re.findall(r'(?:src|href)="ui/([^"]+)"', html))
    assert linked == {"app.js", "app.css"}
    assert linked <= set(ASSETS)
    # The CSP would block these anyway; the page must not depend on anything it blocks.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "style=" not in html
    assert "<style" not in html


def scripts() -> dict[str, str]:
    return {
        name: get(f"ui/{name}", asset=name).get_body().decode()
        for name, content_type in ASSETS.items()
        if content_type.startswith("text/javascript")
    }


def test_every_module_the_scripts_import_is_served() -> None:
    found = scripts()

    imported = {name for text in found.values() for name in re.findall(r'from "\./([^"]+)"', text)}
    assert imported
    assert imported == set(found) - {"app.js"}


@pytest.mark.parametrize(
    "sink", ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("]
)
def test_no_script_writes_html_or_evaluates_strings(sink: str) -> None:
    offenders = [name for name, text in scripts().items() if sink in text]

    assert offenders == []
