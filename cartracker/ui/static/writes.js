// The consistency tokens of this tab's own writes, kept in sessionStorage.
//
// The list is a deferred projection. Sending these tokens as `after` makes the API fold
// the writes the projector has not reached yet into the page, marked "predicted". A token
// is dropped as soon as the list shows its car projected at or past the written version.

const WRITES_KEY = "cartracker.writes";
const MAX_TOKENS = 20; // the list API accepts at most 20 `after` tokens

export function pendingWrites() {
  try {
    const writes = JSON.parse(sessionStorage.getItem(WRITES_KEY) || "[]");
    return Array.isArray(writes)
      ? writes.filter((w) => w && typeof w.token === "string" && Number.isInteger(w.version))
      : [];
  } catch {
    return [];
  }
}

function saveWrites(writes) {
  try {
    sessionStorage.setItem(WRITES_KEY, JSON.stringify(writes.slice(-MAX_TOKENS)));
  } catch {
    // storage disabled: the list is simply not predicted
  }
}

/** Keep the newest write per car: a later version's token supersedes the earlier one. */
export function rememberWrite(result) {
  const writes = pendingWrites().filter((w) => w.carId !== result.carId);
  writes.push({ carId: result.carId, version: result.version, token: result.consistencyToken });
  saveWrites(writes);
}

/** Drop the tokens the projection has caught up with: the API no longer needs them. */
export function forgetProjected(items) {
  const projected = new Map(
    items.filter((item) => item.freshness === "deferred").map((item) => [item.carId, item.version]),
  );
  saveWrites(pendingWrites().filter((w) => !(projected.get(w.carId) >= w.version)));
}

export function forgetAllWrites() {
  saveWrites([]);
}
