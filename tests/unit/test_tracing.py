"""W3C Trace Context `traceparent`: read exactly, and a new trace whenever it cannot be read."""

from __future__ import annotations

import re

import pytest

from cartracker.tracing import MAX_TRACEPARENT_LENGTH, TraceContext, handling, new_trace, parse

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{PARENT}-01"
WRITTEN = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]")


def test_a_version_00_traceparent_is_read_field_by_field() -> None:
    assert parse(VALID) == TraceContext(trace_id=TRACE, parent_id=PARENT, flags="01")
    assert parse(f"00-{TRACE}-{PARENT}-00") == TraceContext(trace_id=TRACE, parent_id=PARENT, flags="00")
    assert str(parse(VALID)) == VALID


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param(f"00-{TRACE}-{PARENT}", id="no-flags"),
        pytest.param(f"00-{TRACE}-{PARENT}-1", id="one-digit-flags"),
        pytest.param(f"00-{TRACE}-{PARENT}-001", id="three-digit-flags"),
        pytest.param(f"00-{TRACE[:-1]}-{PARENT}-01", id="short-trace-id"),
        pytest.param(f"00-{TRACE}0-{PARENT}-01", id="long-trace-id"),
        pytest.param(f"00-{TRACE}-{PARENT[:-1]}-01", id="short-parent-id"),
        pytest.param(f"00-{TRACE.upper()}-{PARENT}-01", id="upper-case-trace-id"),
        pytest.param(f"00-{TRACE}-{PARENT.upper()}-01", id="upper-case-parent-id"),
        pytest.param(f"00-{TRACE}-{PARENT}-0A", id="upper-case-flags"),
        pytest.param(f"00-{TRACE[:-1]}g-{PARENT}-01", id="not-hex"),
        pytest.param(f"00-{'0' * 32}-{PARENT}-01", id="all-zero-trace-id"),
        pytest.param(f"00-{TRACE}-{'0' * 16}-01", id="all-zero-parent-id"),
        pytest.param(f"00_{TRACE}_{PARENT}_01", id="wrong-separator"),
        pytest.param(f" {VALID}", id="leading-space"),
        pytest.param(f"{VALID} ", id="trailing-space"),
        pytest.param(f"{VALID}\n", id="trailing-newline"),
        pytest.param(f"00-{TRACE}-{PARENT}-01-extra", id="version-00-with-more-fields"),
        pytest.param(f"{VALID},{VALID}", id="two-values-joined"),
        pytest.param(f"ff-{TRACE}-{PARENT}-01", id="version-ff"),
        pytest.param(f"0-{TRACE}-{PARENT}-01", id="one-digit-version"),
        pytest.param(f"0A-{TRACE}-{PARENT}-01", id="upper-case-version"),
        pytest.param(f"01-{TRACE}-{PARENT}-01extra", id="future-version-without-a-dash-after-flags"),
        pytest.param(f"00-{TRACE[:31]}\u0663-{PARENT}-01", id="non-ascii-digit"),
    ],
)
def test_a_malformed_traceparent_is_not_read(header: str) -> None:
    assert parse(header) is None


def test_no_traceparent_is_not_read() -> None:
    assert parse(None) is None


def test_a_future_version_is_read_by_its_first_four_fields() -> None:
    assert parse(f"01-{TRACE}-{PARENT}-01") == TraceContext(trace_id=TRACE, parent_id=PARENT, flags="01")
    later = f"cc-{TRACE}-{PARENT}-03-what-comes-next"
    # Written back as the version this code knows, with only the flag it knows (sampled).
    assert str(parse(later)) == f"00-{TRACE}-{PARENT}-01"


def test_input_beyond_the_length_bound_is_not_read() -> None:
    header = f"01-{TRACE}-{PARENT}-01-"
    assert parse(header.ljust(MAX_TRACEPARENT_LENGTH, "x")) is not None
    assert parse(header.ljust(MAX_TRACEPARENT_LENGTH + 1, "x")) is None
    assert parse("00-" * 100_000) is None


def test_a_new_trace_has_fresh_random_ids_and_is_sampled() -> None:
    first, second = new_trace(), new_trace()
    assert WRITTEN.fullmatch(str(first))
    assert str(first).endswith("-01")
    assert first.trace_id != second.trace_id
    assert first.parent_id != second.parent_id
    assert parse(str(first)) == first


def test_a_child_keeps_the_trace_and_the_sampled_flag_with_a_span_of_its_own() -> None:
    caller = TraceContext(trace_id=TRACE, parent_id=PARENT, flags="03")
    child = caller.child()
    assert (child.trace_id, child.flags) == (TRACE, "01")
    assert child.parent_id != PARENT
    assert WRITTEN.fullmatch(str(child))
    assert TraceContext(trace_id=TRACE, parent_id=PARENT, flags="02").child().flags == "00"


def test_a_request_runs_under_a_child_of_the_callers_trace() -> None:
    handled = handling(VALID)
    assert handled.trace_id == TRACE
    assert handled.parent_id != PARENT


@pytest.mark.parametrize("header", [None, "", "garbage", f"00-{'0' * 32}-{PARENT}-01"])
def test_a_request_without_a_readable_traceparent_starts_a_new_trace(header: str | None) -> None:
    handled = handling(header)
    assert WRITTEN.fullmatch(str(handled))
    assert handled.trace_id != TRACE


def test_the_hosts_span_wins_over_the_callers_header() -> None:
    host = f"00-{TRACE}-b7ad6b7169203331-01"
    assert str(handling(VALID, host=host)) == host
    assert str(handling("garbage", host=host)) == host


def test_an_unreadable_host_span_is_ignored() -> None:
    for host in (None, "", "not a traceparent"):
        handled = handling(VALID, host=host)
        assert handled.trace_id == TRACE
        assert handled.parent_id != PARENT
