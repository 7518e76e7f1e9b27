// A car's history and its past: the routes to a car now (`#/cars/{id}`) and as it was after one
// of its events (`#/cars/{id}@{version}`, read with `GET api/cars/{id}?asOfVersion=`), and the
// history's rows, each of which opens the car at its version.

import { $, el, when, words } from "./dom.js";

const CAR_ROUTE = /^#\/cars\/([^/@]+)(?:@([1-9][0-9]{0,17}))?$/;

/** The page's address of a car: now, or (with a version) as it was right after that event. */
export function carHash(carId, version = null) {
  const car = `#/cars/${encodeURIComponent(carId)}`;
  return version === null ? car : `${car}@${version}`;
}

/**
 * `{ carId, version }` from a car's address, or null for any other. The version is kept as the
 * digits written (up to 18: more than a JavaScript number holds exactly); null is the car now.
 */
export function carRoute(hash) {
  const match = CAR_ROUTE.exec(hash);
  if (!match) return null;
  try {
    return { carId: decodeURIComponent(match[1]), version: match[2] ?? null };
  } catch {
    return null; // a malformed link
  }
}

/** The API path that reads the car now, or at a version. */
export function carPath(carId, version) {
  const path = `cars/${encodeURIComponent(carId)}`;
  return version === null ? path : `${path}?asOfVersion=${version}`;
}

/** An event's data as one line of text; charges arrive as two-decimal strings and stay as they are. */
function describe(data) {
  return Object.entries(data ?? {})
    .map(([key, value]) => `${words(key)}: ${String(value)}`)
    .join(", ");
}

function eventName(type) {
  const text = words(type);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** One row per event; the event's name links to the car right after it, and `shown` is marked. */
export function historyRows(carId, events, shown) {
  return events.map((event) => {
    const name = eventName(event.type);
    const link = el(
      "a",
      { href: carHash(carId, event.version), "aria-label": `${name}: the car at version ${event.version}` },
      name,
    );
    const row = el(
      "tr",
      { "data-version": String(event.version) },
      el("td", { class: "num" }, String(event.version)),
      el("td", {}, when(event.occurredAt)),
      el("td", {}, link),
      el("td", {}, describe(event.data)),
    );
    if (String(event.version) === shown) row.setAttribute("aria-current", "true");
    return row;
  });
}

/** Marks the history row of the version shown (null: the car now, no row). */
export function markShown(version) {
  for (const row of document.querySelectorAll("#history-rows tr")) {
    if (row.dataset.version === version) row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
  }
}

/** Says which past the details show, with the way back to the car now; hidden for the car now. */
export function showPast(car) {
  const past = $("#car-past");
  const historical = car.freshness === "historical";
  past.hidden = !historical;
  if (historical) {
    past.replaceChildren(
      `As it was at version ${car.version}, on `,
      when(car.updatedAt),
      ". ",
      el("a", { href: carHash(car.carId) }, "See the car now"),
    );
  }
  $("#car-view .commands").hidden = historical; // a command applies to the car now, not to its past
}
