"""Route templates as the Functions host matches them."""

from __future__ import annotations

import pytest

from cartracker.localhost.routes import compile_template

CAR = "0b8f1f0e-3c1a-4a57-9d5e-2f1f6f3e9a10"


def test_a_parameter_matches_one_segment_and_is_url_decoded() -> None:
    template = compile_template("cars/{carId}/events")
    assert template.match(f"cars/{CAR}/events") == {"carId": CAR}
    assert template.match("cars/a%20b/events") == {"carId": "a b"}
    assert template.match(f"cars/{CAR}") is None
    assert template.match(f"cars/{CAR}/events/more") is None


def test_literals_match_case_insensitively() -> None:
    assert compile_template("cars/{carId}").match(f"CARS/{CAR}") == {"carId": CAR}


def test_constraints_restrict_what_a_parameter_matches() -> None:
    template = compile_template("cars/{carId:guid}/n/{n:int}")
    assert template.match(f"cars/{CAR}/n/-3") == {"carId": CAR, "n": "-3"}
    assert template.match(f"cars/{CAR}/n/x") is None
    assert template.match("cars/nope/n/3") is None


def test_optional_and_catch_all_parameters() -> None:
    assert compile_template("ui/{asset?}").match("ui") == {}
    assert compile_template("ui/{asset?}").match("ui/app.js") == {"asset": "app.js"}
    assert compile_template("files/{*path}").match("files/a/b/c") == {"path": "a/b/c"}
    assert compile_template("files/{*path}").match("files") == {}


def test_literal_segments_outrank_parameters() -> None:
    templates = [compile_template(t) for t in ("cars/{carId}", "cars/{carId:guid}", "cars/stats", "{*all}")]
    ranked = sorted(templates, key=lambda t: t.precedence)
    assert [t.text for t in ranked] == ["cars/stats", "cars/{carId:guid}", "cars/{carId}", "{*all}"]


@pytest.mark.parametrize("template", ["cars/{carId:regex(x)}", "cars/{a}{b}", "{*rest}/more", "cars/x{y}"])
def test_an_unsupported_template_fails_loudly(template: str) -> None:
    with pytest.raises(ValueError, match="route"):
        compile_template(template)
