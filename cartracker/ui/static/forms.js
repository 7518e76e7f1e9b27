// The command forms: the browser's own checks and the server's problem+json errors, each
// message shown under the field it is about.

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

export function clearErrors(form) {
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

/** The browser's own checks (the inputs' required/min/max/pattern), shown where the server's go. */
export function checkFields(form) {
  let valid = true;
  for (const input of form.querySelectorAll("input[name]")) {
    if (input.checkValidity()) continue;
    valid = false;
    const message =
      input.validity.valueMissing || !input.dataset.invalid ? input.validationMessage : input.dataset.invalid;
    showError(form, input.name, message);
  }
  return valid;
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
