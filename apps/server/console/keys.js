// The API-key card: list with this month's use per key, create (secret shown once), rotate,
// revoke.

import { post, remove, scoped } from "./api.js";
import { byId, confirmAction, h, replaceChildren, table, time } from "./dom.js";
import { count, money } from "./money.js";
import { act, announce } from "./shell.js";

let context = { organizationId: null, reload: async () => {} };

export function setUpKeys(current) {
  context = current;
}

export function wireKeyForms() {
  const form = byId("key-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    act(button, async () => {
      const body = { name: form.elements.name.value, environment: form.elements.environment.value };
      const created = await post(scoped("/api/v1/keys", context.organizationId), body);
      form.reset();
      await showSecret(created, `Key “${created.name}” created`);
      await context.reload();
    });
  });
  byId("secret-copy").addEventListener("click", async () => {
    const secret = byId("secret-value").textContent;
    try {
      await navigator.clipboard.writeText(secret);
      byId("secret-copied").textContent = "Copied.";
    } catch {
      // No clipboard permission: the secret is selectable as one word.
      window.getSelection().selectAllChildren(byId("secret-value"));
      byId("secret-copied").textContent = "Selected: press Ctrl+C (⌘C) to copy.";
    }
  });
  byId("secret-dialog").addEventListener("close", () => {
    // Shown once: gone from the page as soon as the dialog closes.
    byId("secret-value").textContent = "";
    byId("secret-copied").textContent = "";
  });
}

function showSecret(created, message) {
  const dialog = byId("secret-dialog");
  byId("secret-value").textContent = created.key;
  dialog.showModal();
  announce(message);
  return new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
}

export function renderKeys(keys, usageByKey) {
  const usage = new Map(usageByKey.map((entry) => [entry.id, entry]));
  const rows = keys.map((key) => keyRow(key, usage.get(key.id)));
  const body = keys.length === 0
    ? h("p", { class: "note" }, "No keys yet: create one below.")
    : table("API keys", ["Name", "Environment", "Key", "Created", "Last used", "#Requests", "#Cost", "Status", "Actions"], rows);
  replaceChildren(byId("keys-list"), body);
}

function keyRow(key, usage) {
  const revoked = Boolean(key.revoked_at);
  const expired = key.expires_at && new Date(key.expires_at) <= new Date();
  const status = revoked
    ? h("span", { class: "badge loss" }, "revoked")
    : expired
      ? h("span", { class: "badge warn" }, "expired")
      : key.expires_at
        ? h("span", { class: "badge warn" }, "active until ", time(key.expires_at))
        : h("span", { class: "badge ok" }, "active");
  const actions = revoked
    ? ""
    : h(
      "div",
      { class: "actions" },
      h("button", { type: "button", on: { click: (event) => rotate(event.currentTarget, key) } }, "Rotate"),
      h("button", { type: "button", class: "danger", on: { click: (event) => revoke(event.currentTarget, key) } }, "Revoke"),
    );
  return h(
    "tr",
    { "data-key-id": key.id },
    h("td", {}, key.name),
    h("td", {}, key.environment),
    h("td", {}, h("code", {}, `${key.prefix}…`)),
    h("td", {}, time(key.created_at)),
    h("td", {}, time(key.last_used_at)),
    h("td", { class: "number" }, count(usage?.requests ?? 0)),
    h("td", { class: "number" }, money(usage?.cost_micros ?? 0)),
    h("td", {}, status),
    h("td", {}, actions),
  );
}

async function revoke(button, key) {
  const sure = await confirmAction(
    `Revoke “${key.name}”? Calls with it fail from now on, on every instance within seconds. This cannot be undone.`,
    "Revoke key",
  );
  if (!sure) return;
  await act(button, async () => {
    await remove(scoped(`/api/v1/keys/${encodeURIComponent(key.id)}`, context.organizationId));
    announce(`Key “${key.name}” revoked.`);
    await context.reload();
  });
}

async function rotate(button, key) {
  const dialog = byId("rotate-dialog");
  byId("rotate-name").textContent = key.name;
  dialog.returnValue = "";
  dialog.showModal();
  const confirmed = await new Promise((resolve) =>
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true }));
  if (!confirmed) return;
  const grace = Number(byId("rotate-grace").value);
  await act(button, async () => {
    const path = scoped(`/api/v1/keys/${encodeURIComponent(key.id)}/rotate`, context.organizationId);
    const created = await post(path, { grace_period_seconds: grace });
    await showSecret(created, `Key “${key.name}” rotated.`);
    await context.reload();
  });
}
