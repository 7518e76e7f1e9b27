"""The web page: `GET api/ui` is the page, `GET api/ui/{asset}` one of its few static files.

The files ship inside the package and are read with `importlib.resources`, so they are
found wherever the app is deployed. Only the names in `ASSETS` are ever read: a request
cannot reach any other file. The routes are anonymous (the page holds no data); the API
routes it calls keep their own auth level, and the page asks for a function key when one
of them answers 401.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from urllib.parse import urlsplit

import azure.functions as func

from cartracker.http.problems import problem_boundary, problem_response
from cartracker.http.requests import if_none_match

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure.functions leaves it unannotated

PAGE = "index.html"
# The whitelist: file name -> content type. Nothing else under static/ (or anywhere) is served.
_JS = "text/javascript; charset=utf-8"  # the page's scripts are ES modules: this type is required
ASSETS: dict[str, str] = {
    PAGE: "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "app.js": _JS,
    "api.js": _JS,
    "dom.js": _JS,
    "forms.js": _JS,
    "history.js": _JS,
    "writes.js": _JS,
}

# The page loads only its own script and stylesheet and talks only to its own origin. No inline
# script or style is allowed, and Trusted Types make the DOM's HTML sinks (innerHTML...) throw,
# so user data can only ever become text. `img-src data:` is for the empty favicon.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The files carry no version in their names, so caches must revalidate (a cheap 304 by
    # ETag) rather than serve an old app.js next to a new index.html after a deployment.
    "Cache-Control": "no-cache",
}


@bp.route(route="ui", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problem_boundary
def ui_page(req: func.HttpRequest) -> func.HttpResponse:
    path = urlsplit(req.url).path
    if path.endswith("/"):
        # The page links its files relatively (ui/app.js), which only resolves from ".../ui".
        return func.HttpResponse(status_code=308, headers={"Location": path.rstrip("/")})
    return asset_response(req, PAGE)


@bp.route(route="ui/{asset}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@problem_boundary
def ui_asset(req: func.HttpRequest) -> func.HttpResponse:
    return asset_response(req, req.route_params.get("asset", ""))


def asset_response(req: func.HttpRequest, name: str) -> func.HttpResponse:
    """One whitelisted file with its content type, security headers and ETag (304 when unchanged)."""
    content_type = ASSETS.get(name)
    if content_type is None:
        return problem_response(
            404,
            f"the page has no file named {name!r}",
            slug="no-such-asset",
            errors=[("asset", f"must be one of {', '.join(sorted(ASSETS))}")],
            instance=urlsplit(req.url).path or None,
        )
    body = read_asset(name)
    headers = {**SECURITY_HEADERS, "ETag": f'"{hashlib.sha256(body).hexdigest()[:32]}"'}
    if if_none_match(req, headers["ETag"]):
        return func.HttpResponse(status_code=304, headers=headers)
    mimetype, _, _ = content_type.partition(";")
    # Content-Type is set both ways: the Functions worker uses the header, other hosts the mimetype.
    return func.HttpResponse(
        body,
        status_code=200,
        headers={**headers, "Content-Type": content_type},
        mimetype=mimetype,
        charset="utf-8",
    )


def read_asset(name: str) -> bytes:
    """A whitelisted file's bytes. Read per request: a few KiB, and edits show without a restart."""
    if name not in ASSETS:
        raise KeyError(name)
    return resources.files("cartracker.ui").joinpath("static", name).read_bytes()
