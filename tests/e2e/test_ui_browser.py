"""The web page in headless Chromium against the local host: what a user sees and does.

One browser per module with a desktop and a phone window, and one tab per test (a tab has
its own sessionStorage, so each test starts with no remembered writes and no function key).
Waiting is always for a condition in the page, with Playwright's `expect` and its deadline,
never a sleep.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Route, expect

from cartracker.localhost.changefeed import ChangeFeedPump, change_feed_pumps
from cartracker.localhost.index import app_index
from tests.e2e.conftest import LiveApi
from tests.support.browser import (
    PageProblems,
    broken_words,
    browser_context,
    chromium,
    save_screenshot,
    sideways_overflow,
    wrapped,
)

TIMEOUT_MS = 5_000  # for anything the page does by itself after a click
PROJECTION_TIMEOUT_MS = 15_000  # for the projector to catch up and the page's polling to notice
PAGE_SIZE = 10  # the page's list page size (PAGE_SIZE in app.js)


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def browser(chromium_browser: Browser) -> Iterator[BrowserContext]:
    with browser_context(chromium_browser) as context:
        context.set_default_timeout(TIMEOUT_MS)
        yield context


@pytest.fixture(scope="module")
def service_due_feed(live_api: LiveApi, pump: ChangeFeedPump) -> ChangeFeedPump:
    """The service-due projector's feed, to wait on (`pump` runs it; this only reads its position)."""
    pumps = change_feed_pumps(app_index().change_feed, live_api.services.backend)
    [feed] = [p for p in pumps if p.function.name == "project_service_due"]
    return feed


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: BrowserContext, problems: PageProblems) -> Iterator[Page]:
    """A fresh tab; the test fails if the page logged a CSP violation or threw (and did not expect it)."""
    tab = problems.watch(browser.new_page())
    yield tab
    tab.close()
    assert problems.take() == []


def open_list(page: Page, live: LiveApi) -> None:
    page.goto(f"{live.api}/ui")
    expect(page.locator("#list-view")).to_be_visible()


def open_car(page: Page, live: LiveApi, car_id: str) -> None:
    page.goto(f"{live.api}/ui#/cars/{car_id}")
    expect(page.locator("#car-facts")).not_to_be_empty()


def add_car_through_the_form(page: Page, make: str, model: str, owner: str) -> str:
    form = page.locator("#add-car")
    form.get_by_label("Make").fill(make)
    form.get_by_label("Model").fill(model)
    form.get_by_label("Owner").fill(owner)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/api/cars")) as answer:
        form.get_by_role("button", name="Add car").click()
    assert answer.value.status == 201
    car_id: str = answer.value.json()["carId"]
    return car_id


def add_car(live: LiveApi, make: str, model: str, owner: str) -> str:
    answer = live.post("cars", {"make": make, "model": model, "owner": owner})
    assert answer.status_code == 201, answer.text
    car_id: str = answer.json()["carId"]
    return car_id


def row_of(page: Page, car_id: str) -> Locator:
    return page.locator(f'#car-rows tr[data-car-id="{car_id}"]')


def open_service_due(page: Page) -> None:
    """Through the page's own navigation, from wherever it is."""
    page.locator(".views").get_by_role("link", name="Service due").click()
    expect(page.locator("#due-view")).to_be_visible()
    expect(page.locator("#due-freshness")).to_have_text("deferred")


def due_row(page: Page, car_id: str) -> Locator:
    return page.locator(f'#due-rows tr[data-car-id="{car_id}"]')


def due_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("#due-rows tr").evaluate_all("rows => rows.map((r) => r.dataset.carId)")
    return ids


def inspect_brakes(live: LiveApi, car_id: str, mileage: int, remaining_pad: int) -> None:
    body = {"mileage": mileage, "remainingPad": remaining_pad}
    answer = live.post(f"cars/{car_id}/brake-inspections", body)
    assert answer.status_code == 200, answer.text


def fact(page: Page, label: str) -> Locator:
    return (
        page.locator("#car-facts div")
        .filter(has=page.locator("dt", has_text=re.compile(f"^{label}$")))
        .locator("dd")
    )


def submit(form: Locator, values: dict[str, str]) -> None:
    for label, value in values.items():
        form.get_by_label(label, exact=True).fill(value)
    form.get_by_role("button").click()


# ---------------------------------------------------------------- the list and its freshness

# This test comes first in the module so that its screenshot shows only the cars it adds.


def test_a_new_car_is_listed_at_once_as_predicted_then_deferred_once_projected(
    page: Page, live_api: LiveApi, pump: ChangeFeedPump
) -> None:
    volvo = add_car(live_api, "Volvo", "V70", "Alice")
    saab = add_car(live_api, "Saab", "900", "Bengt")
    live_api.post(f"cars/{volvo}/oil-changes", {"mileage": 10_000, "charge": "49.99"}).raise_for_status()
    live_api.post(
        f"cars/{saab}/tire-replacements", {"numberOfTiresReplaced": 4, "charge": "320"}
    ).raise_for_status()
    pump.wait_until_caught_up()
    open_list(page, live_api)

    pump.pause()
    try:
        car_id = add_car_through_the_form(page, "Toyota", "Corolla", "Carmen")
        row = row_of(page, car_id)
        expect(row).to_contain_text("Toyota")
        expect(row.locator(".badge")).to_have_text("predicted")
        expect(page.locator("#list-freshness")).to_have_text("predicted")
        expect(page.locator("#car-rows tr").first).to_have_attribute("data-car-id", car_id)  # newest first
        expect(page.locator("#add-car .outcome")).to_have_text(
            re.compile(r"^Car added: Toyota Corolla, version 1\.$")
        )
        save_screenshot(page, "car-list")
    finally:
        pump.resume()

    expect(row.locator(".badge")).to_have_text("deferred", timeout=PROJECTION_TIMEOUT_MS)
    expect(page.locator("#list-freshness")).to_have_text("deferred")
    # The projection caught up, so the page stopped sending the write's token.
    assert page.evaluate("JSON.parse(sessionStorage.getItem('cartracker.writes') || '[]')") == []


# ---------------------------------------------------------------- on a phone

# Second in the module, so that its screenshot shows a short list of this module's own cars.

PHONE = {"width": 390, "height": 844}  # an iPhone 12-15's viewport in CSS pixels


@pytest.fixture(scope="module")
def phone_browser(chromium_browser: Browser) -> Iterator[BrowserContext]:
    with browser_context(chromium_browser, **PHONE, phone=True) as context:
        context.set_default_timeout(TIMEOUT_MS)
        yield context


@pytest.fixture
def phone(phone_browser: BrowserContext, problems: PageProblems) -> Iterator[Page]:
    tab = problems.watch(phone_browser.new_page())
    yield tab
    tab.close()
    assert problems.take() == []


def assert_fits_a_phone(page: Page, view: str) -> None:
    """No word broken across lines, no date spread over two, and no sideways scrolling."""
    checks = {
        "words broken mid-word": broken_words(page),
        "dates wrapped": wrapped(page, "main time"),
        "pixels of sideways scrolling": sideways_overflow(page),
    }
    found = {what: found for what, found in checks.items() if found}
    assert found == {}, f"in the {view}: {found}"


def test_on_a_phone_the_list_history_details_and_service_due_fit_without_breaking_words(
    phone: Page, live_api: LiveApi, pump: ChangeFeedPump, service_due_feed: ChangeFeedPump
) -> None:
    """Realistic long names and large amounts, at 390 px: every table cell readable as written."""
    add_car(live_api, "Volkswagen", "Multivan Highline", "Anne-Sophie Vanderheyden")
    rover = add_car(
        live_api, "Land Rover", "Range Rover Sport Autobiography", "Bartholomew Featherstonehaugh"
    )
    inspect_brakes(live_api, rover, 1_999_999, 90)  # never oil-changed: due by its miles
    car_id = add_car(live_api, "Mercedes-Benz", "GLE 450 4MATIC Coupé", "Maximiliane Oberhauser-Lindqvist")
    for path, body in [
        ("oil-changes", {"mileage": 1_250_000, "charge": "99999.99"}),
        ("brake-inspections", {"mileage": 1_999_999, "remainingPad": 5}),
        ("tire-replacements", {"numberOfTiresReplaced": 4, "charge": "99999.99"}),
        ("owner-changes", {"newOwner": "Konstantinos Papadopoulos"}),
        ("oil-changes", {"mileage": 1_999_999, "charge": "100000"}),
    ]:
        assert live_api.post(f"cars/{car_id}/{path}", body).status_code == 200
    pump.wait_until_caught_up()

    open_list(phone, live_api)
    expect(row_of(phone, car_id)).to_contain_text("299999.98")
    expect(row_of(phone, car_id).locator(".badge")).to_have_text("deferred")
    # Stacked, each cell says which column it is.
    labels = row_of(phone, car_id).locator("td").evaluate_all("cells => cells.map((c) => c.dataset.label)")
    assert labels == ["Make", "Model", "Owner", "Last serviced", "Charges", "Freshness"]
    assert_fits_a_phone(phone, "list")
    save_screenshot(phone, "phone-list")

    row_of(phone, car_id).get_by_role("link").click()
    expect(fact(phone, "Version")).to_have_text("6")
    expect(phone.locator("#history-rows tr")).to_have_count(6)
    assert_fits_a_phone(phone, "details and history")
    save_screenshot(phone, "phone-details")

    phone.locator('#history-rows tr[data-version="3"]').get_by_role("link").click()
    expect(phone.locator("#car-freshness")).to_have_text("historical")
    expect(fact(phone, "Version")).to_have_text("3")
    assert_fits_a_phone(phone, "car as it was")

    service_due_feed.wait_until_caught_up()
    open_service_due(phone)
    expect(due_row(phone, car_id).locator("li")).to_have_text(
        ["Brakes due: 5% pad left at the last inspection"]
    )
    expect(due_row(phone, rover).locator("li")).to_have_text(
        ["Oil change due: 1999999 miles and no oil change recorded yet"]
    )
    labels = due_row(phone, car_id).locator("td").evaluate_all("cells => cells.map((c) => c.dataset.label)")
    assert labels == ["Make", "Model", "Owner", "Due since", "What is due", "Freshness"]
    assert_fits_a_phone(phone, "service due")
    save_screenshot(phone, "phone-service-due")


def test_the_list_pages_newest_first_and_totals_every_cars_charges(
    page: Page, live_api: LiveApi, pump: ChangeFeedPump
) -> None:
    pump.wait_until_caught_up()
    assert live_api.get(f"cars?pageSize={PAGE_SIZE}").json()["continuationToken"] is None, "needs one page"
    open_list(page, live_api)
    expect(page.locator("#car-rows tr").first).to_be_visible()
    expect(page.locator("#pager")).to_be_hidden()  # one page: nothing to page through

    owner = f"Owner {uuid.uuid4().hex[:8]}"
    car_ids = [add_car(live_api, "Dacia", f"Logan {n}", owner) for n in range(PAGE_SIZE + 1)]
    charged = live_api.post(f"cars/{car_ids[0]}/oil-changes", {"mileage": 1000, "charge": "12.34"})
    assert charged.status_code == 200
    pump.wait_until_caught_up()
    expected = live_api.get("cars?pageSize=1").json()
    open_list(page, live_api)

    rows = page.locator("#car-rows tr")
    expect(rows).to_have_count(PAGE_SIZE)
    expect(rows.first).to_have_attribute("data-car-id", car_ids[-1])
    expect(page.locator("#car-count")).to_have_text(str(expected["carCount"]))
    expect(page.locator("#list-total")).to_have_text(expected["totalCharges"])
    expect(page.locator("#list-freshness")).to_have_text("deferred")
    expect(page.locator("#pager")).to_be_visible()
    expect(page.locator("#previous-page")).to_be_disabled()

    page.locator("#next-page").click()
    expect(rows.first).to_have_attribute("data-car-id", car_ids[0])
    expect(rows.first).to_contain_text("12.34")
    expect(page.locator("#previous-page")).to_be_enabled()

    page.locator("#previous-page").click()
    expect(rows.first).to_have_attribute("data-car-id", car_ids[-1])


# ---------------------------------------------------------------- service due

# After the list's tests, which need the list to start on one page; before the rest, so that the
# screenshot shows few cars.


def test_service_due_lists_the_most_overdue_car_first_each_reason_in_words_and_links_its_details(
    page: Page, live_api: LiveApi, service_due_feed: ChangeFeedPump
) -> None:
    oil_due = add_car(live_api, "Peugeot", "308 SW", "Hanna")
    oil = live_api.post(f"cars/{oil_due}/oil-changes", {"mileage": 10_000, "charge": "59.90"})
    assert oil.status_code == 200, oil.text
    inspect_brakes(live_api, oil_due, 15_200, 80)  # 5200 miles since the oil change
    brakes_due = add_car(live_api, "Kia", "Ceed", "Ivar")
    inspect_brakes(live_api, brakes_due, 3_000, 20)  # pads at the limit
    never_changed = add_car(live_api, "Seat", "Leon", "Jelena")
    inspect_brakes(live_api, never_changed, 5_000, 75)  # 5000 miles and never an oil change
    open_list(page, live_api)

    service_due_feed.wait_until_caught_up()
    open_service_due(page)
    expect(page).to_have_title("Service due · CarTracker")
    expect(page.locator('.views a[aria-current="page"]')).to_have_text("Service due")

    expect(due_row(page, never_changed)).to_be_visible()
    shown = due_ids(page)
    # Due the longest first: the order the three fell due in, whatever the reason.
    assert [car for car in shown if car in {oil_due, brakes_due, never_changed}] == [
        oil_due,
        brakes_due,
        never_changed,
    ]
    since = page.locator("#due-rows tr time").evaluate_all("times => times.map((t) => t.dateTime)")
    assert len(since) == len(shown)
    assert since == sorted(since)
    expect(due_row(page, oil_due).locator("li")).to_have_text(
        ["Oil change due: 5200 miles since the last one"]
    )
    expect(due_row(page, brakes_due).locator("li")).to_have_text(
        ["Brakes due: 20% pad left at the last inspection"]
    )
    expect(due_row(page, never_changed).locator("li")).to_have_text(
        ["Oil change due: 5000 miles and no oil change recorded yet"]
    )
    expect(due_row(page, oil_due).locator(".badge")).to_have_text("deferred")
    one_page = live_api.get(f"service-due?pageSize={PAGE_SIZE}").json()
    assert one_page["continuationToken"] is None, "needs one page"
    expect(page.locator("#due-pager")).to_be_hidden()  # one page: nothing to page through
    expect(page.locator("#empty-due")).to_be_hidden()
    save_screenshot(page, "service-due")

    due_row(page, brakes_due).get_by_role("link", name="Kia").click()
    expect(page).to_have_url(re.compile(f"#/cars/{brakes_due}$"))
    expect(page.locator("#car-title")).to_have_text("Kia Ceed")
    expect(fact(page, "Remaining pad")).to_have_text("20%")
    expect(page.locator(".views a[aria-current]")).to_have_count(0)


def test_service_due_says_so_when_no_car_is_due(page: Page, live_api: LiveApi) -> None:
    """The store here has cars due, so the API's answer for a store with none is given at the network."""
    nothing_due: dict[str, object] = {"items": [], "continuationToken": None, "freshness": "deferred"}
    page.route(re.compile(r".*/api/service-due(\?.*)?$"), lambda route: route.fulfill(json=nothing_due))
    open_list(page, live_api)

    open_service_due(page)

    expect(page.locator("#empty-due")).to_have_text("No car is due for a service.")
    expect(page.locator("#due-rows tr")).to_have_count(0)
    expect(page.locator("#due-pager")).to_be_hidden()


def test_service_due_pages_like_the_list_from_the_most_overdue(
    page: Page, live_api: LiveApi, service_due_feed: ChangeFeedPump
) -> None:
    owner = f"Owner {uuid.uuid4().hex[:8]}"
    for n in range(PAGE_SIZE + 1):
        inspect_brakes(live_api, add_car(live_api, "Dacia", f"Sandero {n}", owner), 1_000, 10)
    service_due_feed.wait_until_caught_up()
    first = live_api.get(f"service-due?pageSize={PAGE_SIZE}").json()
    token = first["continuationToken"]
    assert token is not None
    second = live_api.get(f"service-due?pageSize={PAGE_SIZE}&continuationToken={token}").json()
    open_list(page, live_api)

    open_service_due(page)

    rows = page.locator("#due-rows tr")
    expect(rows).to_have_count(PAGE_SIZE)
    assert due_ids(page) == [item["carId"] for item in first["items"]]
    expect(page.locator("#due-pager")).to_be_visible()
    expect(page.locator("#due-previous-page")).to_be_disabled()

    page.get_by_role("button", name="Less overdue →").click()
    expect(rows.first).to_have_attribute("data-car-id", second["items"][0]["carId"])
    assert due_ids(page) == [item["carId"] for item in second["items"]]
    expect(page.locator("#due-previous-page")).to_be_enabled()

    page.get_by_role("button", name="← More overdue").click()
    expect(rows.first).to_have_attribute("data-car-id", first["items"][0]["carId"])


# ---------------------------------------------------------------- one car and its commands


def test_each_service_form_updates_the_details_view_and_its_history(page: Page, live_api: LiveApi) -> None:
    car_id = add_car(live_api, "Volkswagen", "Golf", "Dana")
    open_car(page, live_api, car_id)
    expect(page.locator("#car-title")).to_have_text("Volkswagen Golf")
    expect(page.locator("#car-view .heading .badge")).to_have_text("realtime")

    submit(page.locator("#change-oil"), {"Mileage": "12000", "Charge": "49.99"})
    expect(fact(page, "Total charges")).to_have_text("49.99")
    expect(fact(page, "Last mileage")).to_have_text("12000")
    expect(fact(page, "Oil changes")).to_have_text("1")

    submit(page.locator("#inspect-brakes"), {"Mileage": "12500", "Remaining pad (%)": "62"})
    expect(fact(page, "Remaining pad")).to_have_text("62%")
    expect(fact(page, "Last mileage")).to_have_text("12500")
    expect(page.locator("#change-oil [data-mileage-hint]")).to_have_text(
        "at least 12500 (the last recorded mileage)"
    )

    submit(page.locator("#replace-tires"), {"Tires replaced": "4", "Charge": "320"})
    expect(fact(page, "Tires replaced")).to_have_text("4")
    expect(fact(page, "Total charges")).to_have_text("369.99")

    submit(page.locator("#change-owner"), {"New owner": "Emil"})
    expect(fact(page, "Owner")).to_have_text("Emil")
    expect(fact(page, "Version")).to_have_text("5")

    history = page.locator("#history-rows tr")
    expect(history).to_have_count(5)
    expect(history.nth(1)).to_contain_text("Oil changed")
    expect(history.nth(1)).to_contain_text("charge: 49.99")
    expect(history.nth(2)).to_contain_text("Brakes inspected")
    expect(history.nth(3)).to_contain_text("Tires replaced")
    expect(history.nth(4)).to_contain_text("new owner: Emil")
    # What the page shows is what the API holds.
    assert live_api.get(f"cars/{car_id}").json()["totalCharges"] == "369.99"
    save_screenshot(page, "car-details")


def test_a_history_row_opens_the_car_as_it_was_then_with_the_way_back_to_the_car_now(
    page: Page, live_api: LiveApi
) -> None:
    car_id = add_car(live_api, "Saab", "900", "Ann")
    assert (
        live_api.post(f"cars/{car_id}/oil-changes", {"mileage": 1000, "charge": "49.99"}).status_code == 200
    )
    assert live_api.post(f"cars/{car_id}/owner-changes", {"newOwner": "Bob"}).status_code == 200
    open_car(page, live_api, car_id)
    history = page.locator("#history-rows tr")
    expect(history).to_have_count(3)

    with page.expect_response(lambda r: r.url.endswith(f"/cars/{car_id}?asOfVersion=2")) as answer:
        history.nth(1).get_by_role("link", name="Oil changed: the car at version 2").click()

    assert answer.value.status == 200
    expect(page).to_have_url(re.compile(rf"#/cars/{car_id}@2$"))
    expect(page.locator("#car-freshness")).to_have_text("historical")
    expect(fact(page, "Version")).to_have_text("2")
    expect(fact(page, "Owner")).to_have_text("Ann")
    expect(fact(page, "Total charges")).to_have_text("49.99")
    expect(page.locator("#car-past")).to_contain_text("As it was at version 2, on")
    expect(page.locator("#car-view .commands")).to_be_hidden()  # a command applies to the car now
    expect(history).to_have_count(3)  # the whole history stays, the row shown marked
    expect(history.nth(1)).to_have_attribute("aria-current", "true")
    save_screenshot(page, "car-as-it-was")

    page.locator("#car-past").get_by_role("link", name="See the car now").click()
    expect(page).to_have_url(re.compile(rf"#/cars/{car_id}$"))
    expect(page.locator("#car-freshness")).to_have_text("realtime")
    expect(fact(page, "Owner")).to_have_text("Bob")
    expect(page.locator("#car-past")).to_be_hidden()
    expect(page.locator("#car-view .commands")).to_be_visible()
    expect(page.locator("#history-rows tr[aria-current]")).to_have_count(0)

    history.nth(1).get_by_role("link").click()  # again: the browser's cache answers, nothing is sent
    expect(fact(page, "Owner")).to_have_text("Ann")
    sizes = page.evaluate(
        "(url) => performance.getEntriesByType('resource')"
        ".filter((e) => e.name === url).map((e) => e.transferSize)",
        f"{live_api.api}/cars/{car_id}?asOfVersion=2",
    )
    assert len(sizes) == 2, sizes
    assert sizes[0] > 0, "the first read came from the API"
    assert sizes[1] == 0, "the second came from the browser's cache"

    page.goto(f"{live_api.api}/ui#/cars/{car_id}@1")  # an address of a version opens it directly
    expect(fact(page, "Owner")).to_have_text("Ann")
    expect(fact(page, "Total charges")).to_have_text("0.00")
    expect(page.locator("#car-freshness")).to_have_text("historical")
    expect(page).to_have_title("Car at version 1 · CarTracker")


def test_a_rejected_command_shows_the_servers_message_next_to_its_field(
    page: Page, live_api: LiveApi
) -> None:
    car_id = add_car(live_api, "Skoda", "Octavia", "Frida")
    assert live_api.post(f"cars/{car_id}/oil-changes", {"mileage": 30_000, "charge": "80"}).status_code == 200
    open_car(page, live_api, car_id)
    oil = page.locator("#change-oil")

    submit(oil, {"Mileage": "100", "Charge": "20"})

    error = oil.locator('[data-error-for="mileage"]')
    expect(error).to_have_text("mileage 100 is below the last recorded mileage 30000")
    # The hint had said so in the same words and digits.
    expect(oil.locator("[data-mileage-hint]")).to_have_text("at least 30000 (the last recorded mileage)")
    expect(oil.get_by_label("Mileage")).to_have_attribute("aria-invalid", "true")
    expect(oil.locator('[data-error-for="charge"]')).to_be_empty()
    expect(fact(page, "Version")).to_have_text("2")

    owner = page.locator("#change-owner")
    submit(owner, {"New owner": " frida "})
    expect(owner.locator('[data-error-for="newOwner"]')).to_contain_text("already owns this car")

    # Typing in the field clears its message.
    oil.get_by_label("Mileage").fill("30001")
    expect(error).to_be_empty()


def test_the_page_checks_a_form_before_sending_it(page: Page, live_api: LiveApi) -> None:
    car_id = add_car(live_api, "Fiat", "Panda", "Gustav")
    open_car(page, live_api, car_id)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    tires = page.locator("#replace-tires")

    submit(tires, {"Tires replaced": "5", "Charge": "49.999"})

    expect(tires.locator('[data-error-for="charge"]')).to_have_text(
        "Enter an amount from 0 to 100000 with at most 2 decimals, such as 49.99."
    )
    expect(tires.locator('[data-error-for="numberOfTiresReplaced"]')).to_have_text(
        "Enter a whole number from 1 to 4."
    )
    assert posts == []


# What an empty submission of each form says under each field: the page's words, never the browser's.
EMPTY_FORM_MESSAGES = {
    "#change-oil": {
        "mileage": "Enter a whole number from 0 to 2000000.",
        "charge": "Enter an amount from 0 to 100000 with at most 2 decimals, such as 49.99.",
    },
    "#inspect-brakes": {
        "mileage": "Enter a whole number from 0 to 2000000.",
        "remainingPad": "Enter a whole number from 0 to 100.",
    },
    "#replace-tires": {
        "numberOfTiresReplaced": "Enter a whole number from 1 to 4.",
        "charge": "Enter an amount from 0 to 100000 with at most 2 decimals, such as 49.99.",
    },
    "#change-owner": {"newOwner": "Enter 1 to 50 characters."},
}


def test_every_message_from_the_pages_own_checks_is_in_its_own_words(page: Page, live_api: LiveApi) -> None:
    car_id = add_car(live_api, "Opel", "Astra", "Ines")
    open_car(page, live_api, car_id)

    for selector, messages in EMPTY_FORM_MESSAGES.items():
        form = page.locator(selector)
        form.get_by_role("button").click()
        for field, message in messages.items():
            expect(form.locator(f'[data-error-for="{field}"]')).to_have_text(message)
            browsers = form.locator(f'input[name="{field}"]').evaluate("input => input.validationMessage")
            assert browsers, "the browser itself objects too"
            assert browsers != message
    assert page.locator("[role=tooltip], :popover-open").count() == 0

    page.locator("#change-owner").get_by_label("New owner").fill("   ")
    page.locator("#change-owner").get_by_role("button").click()
    expect(page.locator('#change-owner [data-error-for="newOwner"]')).to_have_text(
        "Enter 1 to 50 characters."
    )


def test_a_failed_submission_leaves_no_earlier_success_message(page: Page, live_api: LiveApi) -> None:
    car_id = add_car(live_api, "Renault", "Clio", "Jonas")
    open_car(page, live_api, car_id)
    oil, brakes = page.locator("#change-oil"), page.locator("#inspect-brakes")

    submit(oil, {"Mileage": "40000", "Charge": "75.50"})
    expect(oil.locator(".outcome")).to_have_text("Oil change recorded: Renault Clio, version 2.")

    submit(brakes, {"Mileage": "39000", "Remaining pad (%)": "40"})  # refused by the server
    expect(brakes.locator('[data-error-for="mileage"]')).to_contain_text(
        "below the last recorded mileage 40000"
    )
    expect(oil.locator(".outcome")).to_be_empty()
    expect(brakes.locator(".outcome")).to_be_empty()
    expect(page.locator("#status")).to_be_empty()

    submit(oil, {"Mileage": "41000", "Charge": "75.50"})
    expect(oil.locator(".outcome")).to_have_text("Oil change recorded: Renault Clio, version 3.")
    oil.get_by_role("button").click()  # empty: refused by the page's own checks
    expect(oil.locator('[data-error-for="mileage"]')).not_to_be_empty()
    expect(oil.locator(".outcome")).to_be_empty()


# ---------------------------------------------------------------- safety


def test_markup_in_make_and_model_is_shown_as_text(page: Page, live_api: LiveApi) -> None:
    make, model = "<script>alert(1)</script>", '<img src=x onerror="alert(2)">'
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    open_list(page, live_api)

    car_id = add_car_through_the_form(page, make, model, "Mallory")

    row = row_of(page, car_id)
    expect(row.locator("td").nth(0)).to_have_text(make)
    expect(row.locator("td").nth(1)).to_have_text(model)
    assert row.locator("script, img").count() == 0
    row.get_by_role("link").click()
    expect(page.locator("#car-title")).to_have_text(f"{make} {model}")
    expect(page.locator("#history-rows")).to_contain_text(make)
    assert page.locator("main script, main img").count() == 0
    assert dialogs == []


def test_the_page_is_served_at_the_root_with_a_strict_content_security_policy(
    page: Page, live_api: LiveApi, problems: PageProblems
) -> None:
    response = page.goto(f"{live_api.url}/")

    assert response is not None
    assert page.url == f"{live_api.api}/ui"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "require-trusted-types-for 'script'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    # Trusted Types are enforced: an HTML sink throws instead of parsing markup.
    refused = page.evaluate(
        "() => { try { document.body.innerHTML = '<b>x</b>'; return false; } catch (e) { return e.name; } }"
    )
    assert refused == "TypeError"
    assert [m for m in problems.take() if "TrustedHTML" not in m] == []


# ---------------------------------------------------------------- function keys


def test_a_401_makes_the_page_ask_for_a_key_once_and_send_it(page: Page, live_api: LiveApi) -> None:
    """Simulates a deployment with function keys: the API answers 401 unless the right key comes along."""
    key = f"key-{uuid.uuid4().hex}"
    sent: list[str | None] = []

    def keyed_api(route: Route) -> None:
        given = route.request.headers.get("x-functions-key")
        sent.append(given)
        if given == key:
            route.continue_()
        else:
            route.fulfill(status=401, body="")

    page.route(re.compile(r".*/api/cars(\?.*|/.*)?$"), keyed_api)
    dialog = page.locator("#key-dialog")
    page.goto(f"{live_api.api}/ui")

    expect(dialog).to_be_visible()
    expect(page.locator("#key-refused")).to_be_hidden()
    dialog.get_by_role("button", name="Use key").click()  # no key: the page says so, the dialog stays
    expect(page.locator("#key-missing")).to_be_visible()
    expect(dialog).to_be_visible()
    dialog.get_by_label("Function key").fill("wrong-key")
    expect(page.locator("#key-missing")).to_be_hidden()
    dialog.get_by_role("button", name="Use key").click()
    expect(page.locator("#status")).to_contain_text("needs a valid function key")

    page.locator("#refresh-list").click()
    expect(dialog).to_be_visible()
    expect(page.locator("#key-refused")).to_be_visible()
    dialog.get_by_label("Function key").fill(key)
    dialog.get_by_role("button", name="Use key").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#status")).to_be_empty()

    car_id = add_car_through_the_form(page, "Mazda", "MX-5", "Hugo")
    expect(row_of(page, car_id)).to_be_visible()
    expect(dialog).to_be_hidden()
    # Unkeyed, the refused key, unkeyed again after it was dropped, then the key on every request.
    assert sent[:3] == [None, "wrong-key", None]
    assert sent[3:] == [key] * len(sent[3:])
    assert len(sent) >= 6


# ---------------------------------------------------------------- how far behind the list is


def test_the_list_says_in_words_how_far_behind_it_is_and_when_it_has_caught_up(
    page: Page, live_api: LiveApi, pump: ChangeFeedPump
) -> None:
    lag = page.locator("#list-lag")
    pump.wait_until_caught_up()
    open_list(page, live_api)
    expect(lag).to_have_text("The list is up to date.")

    pump.pause()
    try:
        add_car(live_api, "Skoda", "Octavia", "Dana")  # not through the page: nothing to predict
        page.locator("#refresh-list").click()
        behind = re.compile(r"^The list is (less than a second|about \d+ seconds?) behind\.$")
        expect(lag).to_have_text(behind)
    finally:
        pump.resume()

    # Behind, the page keeps asking until the projection has caught up.
    expect(lag).to_have_text("The list is up to date.", timeout=PROJECTION_TIMEOUT_MS)
