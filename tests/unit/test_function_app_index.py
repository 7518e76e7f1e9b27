"""What the real Functions host will check when it indexes the app, checked here first."""

from __future__ import annotations

import json

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


def change_feed_bindings() -> dict[str, dict[str, object]]:
    """Each Cosmos trigger's binding, decoded from the raw JSON the worker sends the host at indexing."""
    found = {}
    for function in app_index().functions:
        raw = [json.loads(binding) for binding in function.get_raw_bindings()]
        triggers = [binding for binding in raw if binding["type"] == "cosmosDBTrigger"]
        if triggers:
            (found[function.get_function_name()],) = triggers
    return found


def test_every_change_feed_trigger_starts_from_the_beginning_of_the_feed() -> None:
    # Without it, leases created "now" skip whatever was written before the first trigger instance
    # ran, and a projection added to a running deployment would never see the existing history.
    bindings = change_feed_bindings()
    assert bindings, "no cosmosDBTrigger in the index"
    not_from_beginning = sorted(
        name for name, b in bindings.items() if b.get("startFromBeginning") is not True
    )
    assert not_from_beginning == []


def test_change_feed_triggers_never_create_leases_and_keep_a_prefix_of_their_own() -> None:
    bindings = change_feed_bindings()
    assert all(b.get("createLeaseContainerIfNotExists") is False for b in bindings.values())
    prefixes = [b.get("leaseContainerPrefix") for b in bindings.values()]
    assert all(prefixes), "a trigger without a lease prefix shares checkpoints with the others"
    assert len(prefixes) == len(set(prefixes))
