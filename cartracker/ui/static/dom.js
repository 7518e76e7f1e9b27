// Building the page's elements and formatting values for display.
//
// Safe by construction: `el` appends strings as Text nodes and everything else here sets
// textContent, so a value from the API or a user is never parsed as markup.

/** The one element `selector` names; a missing one is a bug in the page, so it throws. */
export function $(selector) {
  const node = document.querySelector(selector);
  if (node === null) throw new Error(`the page has no ${selector}`);
  return node;
}

/** A new element; string children become Text nodes, so they can never be markup. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

export function badge(freshness) {
  const known = ["realtime", "deferred", "predicted", "historical"].includes(freshness);
  return el("span", { class: known ? `badge ${freshness}` : "badge" }, String(freshness ?? "unknown"));
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? String(iso) : dateFormat.format(date);
  return el("time", { datetime: String(iso) }, text);
}

/** A number as the API writes it and the forms take it: digits only, no thousands separators. */
export function count(value) {
  return typeof value === "number" ? String(value) : "—";
}

/**
 * Label each cell of `rows` (body rows for `table`) with its column's heading. On a narrow screen the
 * stylesheet stacks a row's cells and shows the label beside each one; the ARIA roles keep the
 * rows and cells a table for assistive technology, which some browsers stop doing once a table's
 * parts are no longer displayed as table parts.
 */
export function tableRows(table, rows) {
  const headings = Array.from(table.tHead.rows[0].cells, (cell) => cell.textContent.trim());
  for (const row of rows) {
    row.setAttribute("role", "row");
    Array.from(row.cells).forEach((cell, column) => {
      cell.setAttribute("role", "cell");
      cell.dataset.label = headings[column] ?? "";
    });
  }
}

/** "numberOfTiresReplaced" -> "number of tires replaced". */
export function words(name) {
  return String(name).replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
}

export function setStatus(message, kind = "info") {
  const status = $("#status");
  status.textContent = message;
  status.className = `status ${kind}`;
}

/** A successful load makes an earlier "could not load" message obsolete. */
export function clearError() {
  if ($("#status").classList.contains("error")) setStatus("");
}
