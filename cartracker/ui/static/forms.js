// The command forms: the page's own checks and the server's problem+json errors, each
// message shown under the field it is about, and the outcome of the last submission under
// the form's button.

import { ApiError } from "./api.js";

function slotFor(form, field) {
  const name = String(field ?? "");
  const slots = [...form.querySelectorAll("[data-error-for]")];
  const last = name.split(/[./]/).pop();
  return (
    slots.find((slot) => slot.dataset.errorFor === name) ||
    slots.find((slot) => slot.dataset.errorFor !== "" && slot.dataset.errorFor === last) ||
    slots.find((slot) => slot.dataset.errorFor === "")
  );
}

function showError(form, field, message) {
  const slot = slotFor(form, field);
  const input = form.elements.namedItem(slot.dataset.errorFor);
  if (input instanceof HTMLElement) input.setAttribute("aria-invalid", "true");
  // A message for a field the form has no input for (carId, If-Match...) goes to the form.
  const known = slot.dataset.errorFor !== "" || !field;
  const text = known ? message : `${field}: ${message}`;
  slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
}

/** Forget the form's messages: its fields' and its last outcome. */
export function clearErrors(form) {
  showOutcome(form, null);
  for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/** Typing in a field clears that field's message. */
export function clearErrorOnInput(form) {
  form.addEventListener("input", (event) => {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(event.target.name)}"]`);
    if (slot) slot.textContent = "";
    event.target.removeAttribute("aria-invalid");
  });
}

/**
 * The inputs' own constraints (required/min/max/step/pattern), checked before anything is sent.
 * The message is always the input's `data-invalid`, in the page's words: the browser's own
 * (`validationMessage`) differs by browser and language, and would sit next to the server's.
 */
export function checkFields(form) {
  let valid = true;
  for (const input of form.querySelectorAll("input[name]")) {
    if (input.checkValidity()) continue;
    valid = false;
    showError(form, input.name, input.dataset.invalid || "Check this value.");
  }
  return valid;
}

/** Say how the form's last submission went; `null` clears it. */
export function showOutcome(form, message) {
  const slot = form.querySelector(".outcome");
  if (slot) slot.textContent = message ?? "";
}

/** The command's JSON body. Charges stay strings: money never travels as a float. */
export function formBody(form) {
  const body = {};
  for (const input of form.querySelectorAll("input[name]")) {
    body[input.name] = input.dataset.kind === "int" ? Number(input.value) : input.value;
  }
  return body;
}

/** A failed command: each of the problem's `errors` under its field, anything else under the form. */
export function showProblem(form, error) {
  const problem = error instanceof ApiError ? error.problem : {};
  const errors = Array.isArray(problem.errors) ? problem.errors : [];
  if (errors.length === 0) showError(form, "", error.message);
  for (const item of errors) showError(form, item.field, item.message);
}
