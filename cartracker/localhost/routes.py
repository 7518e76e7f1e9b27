"""Functions route templates (`cars/{carId}`, `{id:guid}`, `{name?}`, `{*path}`) matched against paths.

Matching follows the Functions host (ASP.NET routing): literal segments are
compared case-insensitively, parameters are URL-decoded, and when several
templates match, the most specific wins: literal before constrained parameter,
before plain parameter, before optional, before catch-all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_CONSTRAINTS = {
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
    "int": r"-?[0-9]+",
    "long": r"-?[0-9]+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
}
_PARAMETER = re.compile(
    r"^\{(?P<star>\*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<rule>[a-z]+))?(?P<opt>\?)?\}$"
)
_LITERAL, _CONSTRAINED, _PLAIN, _OPTIONAL, _CATCH_ALL = range(5)


@dataclass(frozen=True)
class RouteTemplate:
    text: str
    pattern: re.Pattern[str]
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        """The route parameters if `path` (without the route prefix and slashes around it) matches."""
        found = self.pattern.match(path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items() if value is not None}


def compile_template(text: str) -> RouteTemplate:
    """Compile a route template; an unsupported template fails loudly at startup."""
    regex, ranks = "", []
    segments = text.strip("/").split("/") if text.strip("/") else []
    for i, segment in enumerate(segments):
        param = _PARAMETER.match(segment)
        slash = "/" if i else ""
        if param is None:
            if "{" in segment or "}" in segment:
                raise ValueError(f"route {text!r}: unsupported segment {segment!r}")
            regex += slash + re.escape(segment)
            ranks.append(_LITERAL)
            continue
        name, rule = param["name"], param["rule"]
        if rule is not None and rule not in _CONSTRAINTS:
            raise ValueError(f"route {text!r}: unsupported constraint {rule!r}")
        if param["star"]:
            if i != len(segments) - 1:
                raise ValueError(f"route {text!r}: a catch-all must be the last segment")
            regex += f"(?:{slash}(?P<{name}>.*))?"
            ranks.append(_CATCH_ALL)
        elif param["opt"]:
            regex += f"(?:{slash}(?P<{name}>{_CONSTRAINTS.get(rule or '', '[^/]+')}))?"
            ranks.append(_OPTIONAL)
        else:
            regex += f"{slash}(?P<{name}>{_CONSTRAINTS[rule] if rule else '[^/]+'})"
            ranks.append(_CONSTRAINED if rule else _PLAIN)
    return RouteTemplate(
        text=text, pattern=re.compile(f"(?i:{regex})$" if regex else "$"), precedence=tuple(ranks)
    )
