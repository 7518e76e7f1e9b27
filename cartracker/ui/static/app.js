// CarTracker's web page: the car list, the cars due for a service, one car's details and the
// command forms. Plain JavaScript modules, no framework, no build step.
//
// Freshness: a car's details are realtime (its head), or historical when a history row opened the
// car as it was at that version (history.js); the list is deferred (the projection),
// except for this tab's own writes, which the API folds in as "predicted" until the
// projector catches up (see writes.js). While anything is predicted, or the list says it is
// behind (its `lag`, asked for with `lag=true`), the list polls. Service due is deferred too (its
// own projection), with no predictions: it is read when opened or refreshed.

import { ApiError, api, newId } from "./api.js";
import { $, badge, clearError, count, el, setStatus, tableRows, when } from "./dom.js";
import { checkFields, clearErrorOnInput, clearErrors, formBody, showOutcome, showProblem } from "./forms.js";
import { carHash, carPath, carRoute, historyRows, markShown, showPast } from "./history.js";
import { forgetAllWrites, forgetProjected, pendingWrites, rememberWrite } from "./writes.js";

const PAGE_SIZE = 10;
const HISTORY_PAGE_SIZE = 50;

// ---------------------------------------------------------------- commands

async function submitCommand(event) {
  event.preventDefault();
  const form = event.currentTarget;
  // Every earlier outcome is out of date now, this form's and the others' alike.
  for (const other of document.querySelectorAll("form.command")) showOutcome(other, null);
  clearErrors(form);
  if (!checkFields(form)) return;
  const carId = carView.id;
  const path = form.dataset.path ? `cars/${encodeURIComponent(carId)}/${form.dataset.path}` : "cars";
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    // A fresh Idempotency-Key per submission: the retry after a key prompt cannot apply twice.
    const result = await api(path, {
      method: "POST",
      body: formBody(form),
      headers: { "Idempotency-Key": newId() },
    });
    rememberWrite(result);
    form.reset();
    // Said under the button, where the eye is: on a phone the top of the page is out of sight.
    showOutcome(form, `${form.dataset.done}: ${result.car.make} ${result.car.model}, version ${result.version}.`);
    if (!form.dataset.path) {
      list.pages = [null]; // newest first: the new car is on the first page
      await loadList();
    } else if (carView.id === result.carId) {
      renderCar(result.car); // the command's answer is the realtime state: no extra read
      await loadHistory();
    }
  } catch (error) {
    showProblem(form, error);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- the car list

const list = { pages: [null], next: null, load: 0, poll: 0, polls: 0 };

async function loadList() {
  const load = ++list.load;
  window.clearTimeout(list.poll);
  const params = new URLSearchParams({ pageSize: String(PAGE_SIZE), lag: "true" });
  const page = list.pages.at(-1);
  if (page) params.set("continuationToken", page);
  for (const write of pendingWrites()) params.append("after", write.token);
  $("#list-view").setAttribute("aria-busy", "true");
  try {
    const answer = await api(`cars?${params}`);
    if (load !== list.load) return; // a newer load started while this one was in flight
    forgetProjected(answer.items);
    clearError();
    renderList(answer);
    schedulePoll(answer);
  } catch (error) {
    if (load !== list.load) return;
    if (error instanceof ApiError && error.status === 400 && params.has("after")) {
      // Tokens from another database (the local store was reset): they cannot be checked.
      forgetAllWrites();
      await loadList();
      return;
    }
    setStatus(`Could not load the cars: ${error.message}`, "error");
  } finally {
    if (load === list.load) $("#list-view").removeAttribute("aria-busy");
  }
}

function renderList(answer) {
  const rows = answer.items.map((car) =>
    el(
      "tr",
      { "data-car-id": car.carId },
      el("td", {}, el("a", { href: carHash(car.carId) }, car.make)),
      el("td", {}, car.model),
      el("td", {}, car.owner),
      el("td", {}, when(car.lastServiced)),
      el("td", { class: "num" }, car.totalCharges),
      el("td", {}, badge(car.freshness)),
    ),
  );
  tableRows($("table.cars"), rows);
  $("#car-rows").replaceChildren(...rows);
  $("#empty-list").hidden = rows.length > 0 || list.pages.length > 1;
  $("#car-count").textContent = count(answer.carCount);
  $("#list-total").textContent = answer.totalCharges;
  $("#list-freshness").replaceWith(Object.assign(badge(answer.freshness), { id: "list-freshness" }));
  $("#list-lag").textContent = lagInWords(answer.lag);
  list.next = answer.continuationToken || null;
  showPager(list, "#pager", "#previous-page", "#next-page");
}

/** How far behind the list is, in an owner's words ("The list is about 5 seconds behind"). */
function lagInWords(lag) {
  if (!lag) return "";
  if (lag.caughtUp) return "The list is up to date.";
  if (typeof lag.seconds !== "number") return "The list is catching up.";
  if (lag.seconds < 1) return "The list is less than a second behind.";
  const [amount, unit] =
    lag.seconds < 90
      ? [Math.round(lag.seconds), "second"]
      : lag.seconds < 90 * 60
        ? [Math.round(lag.seconds / 60), "minute"]
        : [Math.round(lag.seconds / 3600), "hour"];
  return `The list is about ${amount} ${unit}${amount === 1 ? "" : "s"} behind.`;
}

/** Poll while the page shows predictions or the list is behind, backing off gently, until it catches up. */
function schedulePoll(answer) {
  const predicted = answer.freshness === "predicted" || answer.items.some((c) => c.freshness === "predicted");
  if (!predicted && (!answer.lag || answer.lag.caughtUp)) {
    list.polls = 0;
    return;
  }
  const delay = Math.min(500 + 250 * list.polls, 5000);
  list.polls += 1;
  list.poll = window.setTimeout(() => {
    if (!$("#list-view").hidden) loadList();
  }, delay);
}

// ---------------------------------------------------------------- paging

/** `pages`: the continuation token of each page opened so far (null: the first); `next`: the next one's. */
function showPager(state, pager, previous, next) {
  $(next).disabled = state.next === null;
  $(previous).disabled = state.pages.length === 1;
  $(pager).hidden = state.next === null && state.pages.length === 1; // one page: nothing to page through
}

function wirePager(state, previous, next, load) {
  $(next).addEventListener("click", () => {
    if (state.next === null) return;
    state.pages.push(state.next);
    load();
  });
  $(previous).addEventListener("click", () => {
    if (state.pages.length > 1) state.pages.pop();
    load();
  });
}

// ---------------------------------------------------------------- service due

const due = { pages: [null], next: null, load: 0 };
const DAY_MS = 24 * 60 * 60 * 1000;

async function loadDue() {
  const load = ++due.load;
  const params = new URLSearchParams({ pageSize: String(PAGE_SIZE) });
  const page = due.pages.at(-1);
  if (page) params.set("continuationToken", page);
  $("#due-view").setAttribute("aria-busy", "true");
  try {
    const answer = await api(`service-due?${params}`);
    if (load !== due.load) return;
    clearError();
    renderDue(answer);
  } catch (error) {
    if (load === due.load) setStatus(`Could not load the cars due for a service: ${error.message}`, "error");
  } finally {
    if (load === due.load) $("#due-view").removeAttribute("aria-busy");
  }
}

function renderDue(answer) {
  const rows = answer.items.map((car) =>
    el(
      "tr",
      { "data-car-id": car.carId },
      el("td", {}, el("a", { href: carHash(car.carId) }, car.make)),
      el("td", {}, car.model),
      el("td", {}, car.owner),
      el("td", {}, when(car.due[0]?.dueSince)), // the reasons come longest due first
      el("td", {}, reasonList(car)),
      el("td", {}, badge(answer.freshness)),
    ),
  );
  tableRows($("table.due"), rows);
  $("#due-rows").replaceChildren(...rows);
  $("#empty-due").hidden = rows.length > 0 || due.pages.length > 1;
  $("#due-freshness").replaceWith(Object.assign(badge(answer.freshness), { id: "due-freshness" }));
  due.next = answer.continuationToken || null;
  showPager(due, "#due-pager", "#due-previous-page", "#due-next-page");
}

function reasonList(car) {
  return el("ul", { class: "reasons" }, ...car.due.map((reason) => el("li", {}, dueInWords(reason, car))));
}

/** Why a car is due, in an owner's words ("Oil change due: 5200 miles since the last one"). */
function dueInWords(reason, car) {
  const oil = car.lastOilChange;
  if (reason.reason === "mileage") {
    const miles = `${count(reason.milesSinceOilChange)} miles`;
    return oil
      ? `Oil change due: ${miles} since the last one`
      : `Oil change due: ${miles} and no oil change recorded yet`;
  }
  if (reason.reason === "time") {
    if (!oil) return "Oil change due: none recorded since the car was added";
    const days = Math.floor((Date.now() - new Date(oil.at).getTime()) / DAY_MS);
    return Number.isFinite(days) ? `Oil change due: ${count(days)} days since the last one` : "Oil change due";
  }
  if (reason.reason === "brake-pad") {
    return `Brakes due: ${count(reason.remainingPad)}% pad left at the last inspection`;
  }
  return reason.service === "brakes" ? "Brakes due" : "Oil change due"; // a reason this page does not know yet
}

// ---------------------------------------------------------------- one car

// `version`: null for the car now, else the version a history row opened it at.
const carView = { id: null, version: null, load: 0, historyAfter: null };

const FACTS = [
  ["Owner", (car) => car.owner],
  ["Added", (car) => when(car.addedAt)],
  ["Last serviced", (car) => when(car.lastServiced)],
  ["Last mileage", (car) => count(car.lastMileage)],
  ["Total charges", (car) => car.totalCharges],
  ["Oil changes", (car) => count(car.oilChanges)],
  ["Brake inspections", (car) => count(car.brakeInspections)],
  ["Remaining pad", (car) => (typeof car.lastRemainingPad === "number" ? `${car.lastRemainingPad}%` : "—")],
  ["Tires replaced", (car) => count(car.tiresReplaced)],
  ["Owner changes", (car) => count(car.ownerChanges)],
  ["Version", (car) => count(car.version)],
];

function renderCar(car) {
  $("#car-title").textContent = `${car.make} ${car.model}`;
  // A command's answer carries the car without `freshness`: it is the car now.
  $("#car-freshness").replaceWith(Object.assign(badge(car.freshness ?? "realtime"), { id: "car-freshness" }));
  showPast(car);
  const facts = FACTS.map(([label, value]) => el("div", {}, el("dt", {}, label), el("dd", {}, value(car))));
  $("#car-facts").replaceChildren(...facts);
  // The number as the server's message writes it ("below the last recorded mileage 12500").
  const hint =
    typeof car.lastMileage === "number"
      ? `at least ${car.lastMileage} (the last recorded mileage)`
      : "0 to 2000000";
  for (const node of document.querySelectorAll("[data-mileage-hint]")) node.textContent = hint;
}

async function loadCar() {
  const load = ++carView.load;
  try {
    // A version never changes (the API says `immutable`): the browser's cache may answer for it.
    const cache = carView.version === null ? "no-cache" : "default";
    const car = await api(carPath(carView.id, carView.version), { cache });
    if (load !== carView.load) return;
    clearError();
    renderCar(car);
  } catch (error) {
    if (load === carView.load) setStatus(`Could not load the car: ${error.message}`, "error");
  }
}

/** The history from the start (more = false) or the next page after what is shown. */
async function loadHistory(more = false) {
  const load = carView.load;
  const params = new URLSearchParams({ pageSize: String(HISTORY_PAGE_SIZE) });
  if (more && carView.historyAfter) params.set("continuationToken", carView.historyAfter);
  try {
    const answer = await api(`cars/${encodeURIComponent(carView.id)}/events?${params}`);
    if (load !== carView.load) return;
    const rows = historyRows(carView.id, answer.items, carView.version);
    tableRows($("table.history"), rows);
    if (more) $("#history-rows").append(...rows);
    else $("#history-rows").replaceChildren(...rows);
    carView.historyAfter = answer.continuationToken || null;
    $("#more-history").hidden = carView.historyAfter === null;
  } catch (error) {
    if (load === carView.load) setStatus(`Could not load the history: ${error.message}`, "error");
  }
}

// ---------------------------------------------------------------- navigation

function show(view) {
  $("#list-view").hidden = view !== "list";
  $("#due-view").hidden = view !== "due";
  $("#car-view").hidden = view !== "car";
  for (const link of document.querySelectorAll(".views a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function route() {
  setStatus(""); // a message was about the view being left
  if (window.location.hash === "#/service-due") {
    show("due");
    document.title = "Service due · CarTracker";
    loadDue();
    return;
  }
  const car = carRoute(window.location.hash); // null: not a car, or a malformed link
  if (car === null) {
    show("list");
    document.title = "Cars · CarTracker";
    loadList();
    return;
  }
  const sameCar = !$("#car-view").hidden && carView.id === car.carId; // moving through its own history
  show("car");
  document.title = car.version === null ? "Car · CarTracker" : `Car at version ${car.version} · CarTracker`;
  carView.id = car.carId;
  carView.version = car.version;
  $("#car-title").textContent = "Loading…";
  $("#car-facts").replaceChildren();
  for (const form of document.querySelectorAll("#car-view form")) {
    form.reset();
    clearErrors(form);
  }
  loadCar();
  if (sameCar) {
    markShown(car.version); // the history shown stays, however many pages of it are open
    return;
  }
  carView.historyAfter = null;
  $("#history-rows").replaceChildren();
  loadHistory();
}

function start() {
  for (const form of document.querySelectorAll("form.command")) {
    form.addEventListener("submit", submitCommand);
    clearErrorOnInput(form);
  }
  $("#refresh-list").addEventListener("click", () => loadList());
  wirePager(list, "#previous-page", "#next-page", loadList);
  $("#refresh-due").addEventListener("click", () => loadDue());
  wirePager(due, "#due-previous-page", "#due-next-page", loadDue);
  $("#more-history").addEventListener("click", () => loadHistory(true));
  window.addEventListener("hashchange", route);
  route();
}

start();
