"""What the real Functions host will check when it indexes the app, checked here first."""

from __future__ import annotations

from cartracker.localhost.index import app_index


def test_no_function_name_or_route_starts_with_the_hosts_reserved_admin_segment() -> None:
    # The Functions host refuses such functions ("The specified route conflicts with one or
    # more built in routes"), even under the `api` prefix; our admin routes live under `manage/`.
    offenders = []
    for function in app_index().functions:
        trigger = function.get_trigger()
        route = getattr(trigger, "route", None) or ""
        if function.get_function_name().lower().startswith("admin") or route.lower().startswith("admin"):
            offenders.append(function.get_function_name())
    assert offenders == []


def test_function_names_are_unique_and_every_trigger_is_indexed() -> None:
    names = [f.get_function_name() for f in app_index().functions]
    assert len(names) == len(set(names))
    kinds = {f.get_trigger().get_binding_name() for f in app_index().functions}
    assert {"httpTrigger", "cosmosDBTrigger", "orchestrationTrigger", "activityTrigger"} <= kinds
