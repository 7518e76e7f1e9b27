"""Reads the Bicep templates under infra/ the way the tests need them.

pycep-parser turns a .bicep file into JSON. This module adds the one thing the tests need on top:
evaluating the *literal* part of an expression across module boundaries, so that a test can ask
"what database name does the Function App's COSMOS_DATABASE setting get?" and compare the answer
with the code's constants. Anything that is only known at deploy time (resource properties,
function calls other than string()) evaluates to UNKNOWN.

pycep renders a quoted string and a bare identifier alike (`'events'` and `events` both become
"events"), so a plain string that names a param or var of the template is read as a reference.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
MAIN_BICEP = INFRA_DIR / "main.bicep"


class _Unknown:
    """A value only known at deploy time."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_]\w*)\}")


def bicep_files() -> list[Path]:
    return sorted(INFRA_DIR.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    return dict(BicepParser().parse(file_path=path))


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """The object after `=` of a resource or module, also when it is conditional or a loop."""
    config: dict[str, Any] = declaration["config"]
    while "loop_type" in config or "condition" in config:
        config = config["config"]
    return config


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


@dataclass(frozen=True)
class Template:
    """One parsed .bicep file with the values bound to its params by the caller."""

    path: Path
    bindings: dict[str, Any] = field(default_factory=dict)

    @property
    def doc(self) -> dict[str, Any]:
        return parse(self.path)

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Resources of one type by symbolic name, each as its body."""
        found = self.doc.get("resources", {}).items()
        return {name: body(decl) for name, decl in found if decl["type"] == resource_type}

    def resource(self, resource_type: str) -> dict[str, Any]:
        (only,) = self.resources(resource_type).values()
        return only

    def module(self, symbolic_name: str) -> Template:
        """The template a `module` declaration calls, with its params bound to this scope's values."""
        declaration = self.doc["modules"][symbolic_name]
        config = body(declaration)
        bound = {name: self.resolve(expr) for name, expr in config.get("params", {}).items()}
        return Template(self.path.parent / declaration["detail"]["path"], bound)

    def resolve(self, expr: Any) -> Any:
        if isinstance(expr, bool | int | float) or expr is None:
            return expr
        if isinstance(expr, list):
            return [self.resolve(item) for item in expr]
        if isinstance(expr, dict):
            if expr.keys() == {"operator"}:
                return self._negative(expr["operator"])
            if expr.keys() == {"function"}:
                return self._call(expr["function"])
            return {key: self.resolve(value) for key, value in expr.items()}
        if isinstance(expr, str):
            return self._lookup(expr)
        return UNKNOWN

    def _negative(self, operator: dict[str, Any]) -> Any:
        """`-1` parses as a unary minus on 1; every other operator is beyond this model."""
        operands = operator.get("operands")
        if operator.get("type") != "minus" or not isinstance(operands, dict):
            return UNKNOWN
        operand = self.resolve(operands.get("integer_value"))
        return -operand if isinstance(operand, int) else UNKNOWN

    def _lookup(self, text: str) -> Any:
        params = self.doc.get("parameters", {})
        variables = self.doc.get("variables", {})
        symbols = {**self.doc.get("resources", {}), **self.doc.get("modules", {})}
        if text in self.bindings:
            return self.bindings[text]
        if text in params:
            default = params[text]["default"]
            return UNKNOWN if default is None else self._resolve_declared(text, default)
        if text in variables:
            return self._resolve_declared(text, variables[text]["value"])
        if text in symbols:
            return UNKNOWN
        if "${" in text:
            return self._interpolate(text)
        return text

    def _resolve_declared(self, name: str, value: Any) -> Any:
        # `var events = 'events'` reads back as events = "events": a literal, not a self-reference.
        return value if value == name else self.resolve(value)

    def _interpolate(self, text: str) -> Any:
        def substitute(match: re.Match[str]) -> str:
            value = self._lookup(match.group(1))
            return value if isinstance(value, str) and value != match.group(1) else match.group(0)

        return _INTERPOLATION.sub(substitute, text)

    def _call(self, function: dict[str, Any]) -> Any:
        if function["type"] == "string":
            (argument,) = function["parameters"].values()
            value = self.resolve(argument)
            return value if value is UNKNOWN else str(value)
        return UNKNOWN


def main_template() -> Template:
    return Template(MAIN_BICEP)


def app_settings(function_module: Template) -> dict[str, Any]:
    """The Function App's app settings, name -> expression (unresolved)."""
    site = function_module.resource("Microsoft.Web/sites")
    entries = site["properties"]["siteConfig"]["appSettings"]
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"duplicate app settings: {names}"
    return {entry["name"]: entry["value"] for entry in entries}
