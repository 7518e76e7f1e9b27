// The API client: JSON in and out, problem+json errors as ApiError, and function keys.
//
// The page is anonymous but the API is not: deployed with function keys, it answers 401.
// Then the page asks for a key once (however many requests are waiting), keeps it in this
// tab's sessionStorage and sends it as `x-functions-key` from then on.

import { $ } from "./dom.js";

const API = new URL("../", import.meta.url); // this file is <api>/ui/api.js
const FUNCTION_KEY = "cartracker.functionKey";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `the API answered ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function storedKey() {
  try {
    return sessionStorage.getItem(FUNCTION_KEY);
  } catch {
    return null; // storage disabled: the page still works, it just asks again
  }
}

function storeKey(key) {
  try {
    if (key === null) sessionStorage.removeItem(FUNCTION_KEY);
    else sessionStorage.setItem(FUNCTION_KEY, key);
  } catch {
    // storage disabled; the key lives as long as the prompt's answer
  }
}

let keyPrompt = null; // one pending prompt, shared by every request that got a 401 meanwhile
let keyRefused = false; // the last key tried was answered 401: say so when asking again
let keyDialogReady = false;

/** An empty key is answered in the page's words, not the browser's bubble, and the dialog stays. */
function prepareKeyDialog() {
  if (keyDialogReady) return;
  keyDialogReady = true;
  const input = $("#key-input");
  input.form.addEventListener("submit", (event) => {
    if (event.submitter?.value !== "ok" || input.value.trim() !== "") return;
    event.preventDefault();
    $("#key-missing").hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  });
  input.addEventListener("input", () => {
    $("#key-missing").hidden = true;
    input.removeAttribute("aria-invalid");
  });
}

/** Ask for a function key (once, however many requests are waiting); resolves to the key or null. */
function askForKey() {
  if (keyPrompt === null) {
    prepareKeyDialog();
    keyPrompt = new Promise((resolve) => {
      const dialog = $("#key-dialog");
      const input = $("#key-input");
      $("#key-refused").hidden = !keyRefused;
      $("#key-missing").hidden = true;
      input.removeAttribute("aria-invalid");
      input.value = "";
      dialog.returnValue = "";
      dialog.addEventListener(
        "close",
        () => {
          keyPrompt = null;
          const key = dialog.returnValue === "ok" ? input.value.trim() : "";
          input.value = "";
          storeKey(key || null);
          resolve(key || null);
        },
        { once: true },
      );
      dialog.showModal();
    });
  }
  return keyPrompt;
}

function forgetKey(refused) {
  keyRefused = true;
  if (storedKey() === refused) storeKey(null);
}

// `cache`: "no-cache" (the default) always revalidates, since a realtime view must not come from a
// stale cache; a read that never changes (a car at a version) passes "default" to use the cache.
function send(path, { method = "GET", body, headers = {}, cache = "no-cache" }, key) {
  const all = { Accept: "application/json, application/problem+json", ...headers };
  if (key) all["x-functions-key"] = key;
  if (body !== undefined) all["Content-Type"] = "application/json";
  return fetch(new URL(path, API), {
    method,
    headers: all,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache,
    credentials: "same-origin",
    redirect: "error",
  });
}

/** Call the API (`path` is relative to /api/); on 401 ask for a function key and retry once with it. */
export async function api(path, options = {}) {
  let key = storedKey();
  let response = await send(path, options, key);
  if (response.status === 401) {
    const current = storedKey();
    if (current && current !== key) {
      key = current; // another request got a key while this one was waiting
    } else {
      if (key) forgetKey(key);
      key = await askForKey();
    }
    if (key) {
      response = await send(path, options, key);
      if (response.status === 401) forgetKey(key);
      else keyRefused = false;
    }
  }
  const type = response.headers.get("Content-Type") || "";
  const payload = type.includes("json") ? await response.json() : {};
  if (response.status === 401 && !payload.detail) payload.detail = "the API needs a valid function key";
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

/** An Idempotency-Key. */
export function newId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
