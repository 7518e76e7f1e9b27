"""The car list query: keyset pages, exact totals from subtotals, and predictions from tokens."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cartracker.domain.commands import AddCar, ChangeOil
from cartracker.errors import InvalidRequest
from cartracker.service.car_list import CarListQueries
from cartracker.tokens import consistency_token
from tests.support.projection import World


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World.create(tmp_path, shards=3)


def test_pages_walk_every_car_once_newest_first(world: World) -> None:
    cars = [world.add_car() for _ in range(11)]
    world.projector().apply(world.log)
    seen: list[str] = []
    token = None
    for _ in range(10):
        page = world.services.car_list.page(page_size=4, continuation_token=token)
        assert page.freshness == "deferred"
        assert page.car_count == 11
        seen.extend(item.row.car_id for item in page.items)
        token = page.continuation_token
        if token is None:
            break
    assert seen == list(reversed(cars)), "newest first, no car twice, none missed"


def test_a_full_last_page_has_no_continuation(world: World) -> None:
    for _ in range(4):
        world.add_car()
    world.projector().apply(world.log)
    assert world.services.car_list.page(page_size=4).continuation_token is None


def test_totals_come_from_the_subtotals_to_the_cent(world: World) -> None:
    for charge in ("0.10", "0.20", "1234.56"):
        car_id = world.add_car()
        world.run(car_id, ChangeOil(mileage=1, charge=charge))
    world.projector().apply(world.log)
    page = world.services.car_list.page(page_size=1)
    assert (page.total_charges_cents, page.car_count) == (1234_86, 3)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"page_size": 0}, "pageSize"),
        ({"page_size": 201}, "pageSize"),
        ({"continuation_token": "bm90IGEga2V5"}, "continuationToken"),
        ({"continuation_token": "%%%"}, "continuationToken"),
        ({"after": ["garbage"]}, "after"),
        ({"after": [consistency_token(str(uuid.uuid4()), 1)] * 21}, "after"),
    ],
)
def test_bad_list_parameters_are_refused_with_the_field(world: World, arguments: dict, field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        world.services.car_list.page(**arguments)
    assert refused.value.field == field


def test_a_car_added_a_moment_ago_is_predicted_on_page_one_for_its_client(world: World) -> None:
    for _ in range(5):
        world.add_car()
    world.projector().apply(world.log)
    added = world.services.commands.add_car(AddCar(make="Saab", model="900", owner="Eve"))
    changed = world.services.commands.execute(added.car_id, ChangeOil(mileage=10, charge="20.50"))

    page = world.services.car_list.page(
        page_size=3, after=[added.consistency_token, changed.consistency_token]
    )

    assert page.freshness == "predicted"
    top = page.items[0]
    assert (top.row.car_id, top.row.version, top.freshness) == (added.car_id, 2, "predicted")
    assert all(item.freshness == "deferred" for item in page.items[1:])
    assert (page.total_charges_cents, page.car_count) == (20_50, 6)
    assert len(page.items) == 4, "the predicted car is shown in addition to a full page"


def test_a_lagging_car_on_a_later_page_changes_the_totals_only(world: World) -> None:
    oldest = world.add_car()
    for _ in range(4):
        world.add_car()
    world.projector().apply(world.log)
    result = world.services.commands.execute(oldest, ChangeOil(mileage=1, charge="7"))
    page = world.services.car_list.page(page_size=2, after=[result.consistency_token])
    assert page.freshness == "predicted"
    assert oldest not in {item.row.car_id for item in page.items}
    assert (page.total_charges_cents, page.car_count) == (7_00, 5)


def test_a_token_the_projection_has_caught_up_with_predicts_nothing(world: World) -> None:
    car_id = world.add_car()
    world.run(car_id, ChangeOil(mileage=1, charge="1"))
    world.projector().apply(world.log)
    token = consistency_token(car_id, 2)
    page = world.services.car_list.page(after=[token])
    assert page.freshness == "deferred"
    assert [(i.row.version, i.freshness) for i in page.items] == [(2, "deferred")]


def test_a_token_for_a_car_that_does_not_exist_is_ignored(world: World) -> None:
    page = world.services.car_list.page(after=[consistency_token(str(uuid.uuid4()), 3)])
    assert (page.items, page.car_count, page.freshness) == ([], 0, "deferred")


class _ProjectsBetweenReads:
    """A view store through which the projector catches up between the page read and the summary read."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.views = world.services.views

    def list_rows(self, *, before: str | None, limit: int) -> list[dict[str, object]]:
        rows = self.views.list_rows(before=before, limit=limit)
        self.world.projector().apply(self.world.log)
        return rows

    def __getattr__(self, name: str) -> object:
        return getattr(self.views, name)


def test_a_row_the_projector_moves_on_between_the_two_reads_is_shown_at_its_newer_version(
    world: World,
) -> None:
    car_id = world.add_car()
    world.projector().apply(world.log)
    written = world.services.commands.execute(car_id, ChangeOil(mileage=1, charge="2.50"))
    world.capture()
    queries = CarListQueries(_ProjectsBetweenReads(world), world.services.events, shards=world.shards)  # type: ignore[arg-type]
    page = queries.page(after=[written.consistency_token])
    [item] = page.items
    assert (item.row.version, item.row.total_charges_cents, item.freshness) == (2, 250, "deferred")
    assert (page.total_charges_cents, page.car_count, page.freshness) == (250, 1, "deferred")
