// Builds elements from data without ever parsing it as HTML: names, URLs and error details come
// from users and upstreams, so they only ever become text.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (name === "class") {
      element.className = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replaceChildren(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

export function byId(id) {
  return document.getElementById(id);
}

// A table in a scrolling wrapper, so that a wide table never widens a phone's page; the
// wrapper takes focus so that keyboard users can scroll it too.
export function table(caption, headings, rows) {
  return h(
    "div",
    { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption },
    h(
      "table",
      {},
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", {}, h("tr", {}, headings.map(heading))),
      h("tbody", {}, rows),
    ),
  );
}

function heading(text) {
  const numeric = text.startsWith("#");
  return h("th", { scope: "col", class: numeric ? "number" : null }, numeric ? text.slice(1) : text);
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

// A timestamp of the API, shown in the viewer's time zone, machine-readable in `datetime`.
export function time(timestamp) {
  if (!timestamp) return h("span", { class: "note" }, "never");
  return h("time", { datetime: timestamp }, dateTime.format(new Date(timestamp)));
}

// A UTC calendar date (`2026-11-30`) as the API's daily series names it.
export function day(date) {
  return dateOnly.format(new Date(`${date}T00:00:00Z`));
}

// "in 3 h 20 min": how long until a quota or budget resets.
export function until(timestamp) {
  const minutes = Math.max(0, Math.round((new Date(timestamp) - Date.now()) / 60000));
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `in ${hours} h ${minutes % 60} min`;
  return `in ${Math.round(hours / 24)} days`;
}

// A modal question; resolves true when confirmed. The dialog is in the page's markup.
export function confirmAction(question, confirmLabel) {
  const dialog = byId("confirm");
  byId("confirm-question").textContent = question;
  byId("confirm-yes").textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}
