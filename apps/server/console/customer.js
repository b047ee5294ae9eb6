// The customer console (`/console`): plan and billing, this month's usage, 30 days of requests
// and cost, quotas and budget, API keys and webhook endpoints of one organisation.

import { get, post, scoped } from "./api.js";
import { showBarCharts } from "./chart.js";
import { byId, h, replaceChildren, table, time, until } from "./dom.js";
import { renderKeys, setUpKeys, wireKeyForms } from "./keys.js";
import { count, formatCents, formatMicros, money } from "./money.js";
import { act, report, startPage } from "./shell.js";

const DAYS = 30;
// Roles that may change billing (the API answers 403 to the others).
const BILLING_ROLES = new Set(["owner", "admin"]);

let organizationId = null;
let organizations = [];

wireKeyForms();
startPage(async (me) => {
  organizations = (await get("/api/v1/organizations")).organizations;
  if (!organizations.some((organization) => organization.id === organizationId)) {
    organizationId = me.organization.id;
  }
  byId("admin-link").hidden = me.user.role !== "admin";
  renderOrganizationPicker();
  await load();
});

function renderOrganizationPicker() {
  const picker = byId("organization");
  replaceChildren(
    picker,
    organizations.map((organization) =>
      h("option", { value: organization.id, selected: organization.id === organizationId },
        organization.personal ? `${organization.name} (personal)` : organization.name)),
  );
  byId("organization-picker").hidden = organizations.length < 2;
  picker.onchange = () => {
    organizationId = picker.value;
    load().catch(report);
  };
}

async function load() {
  setUpKeys({ organizationId, reload: load });
  const organization = organizations.find((entry) => entry.id === organizationId);
  byId("organization-name").textContent = organization ? organization.name : "";
  const [usage, daily, plans, keys] = await Promise.all([
    get(scoped("/api/v1/usage", organizationId)),
    get(scoped(`/api/v1/usage/daily?days=${DAYS}`, organizationId)),
    get("/api/v1/plans"),
    get(scoped("/api/v1/keys", organizationId)),
  ]);
  renderPlan(usage, plans.plans, organization);
  renderMonth(usage);
  renderDaily(daily.days);
  renderLimits(usage);
  renderKeys(keys.keys, usage.keys);
  await loadEndpoints();
}

function renderPlan(usage, plans, organization) {
  const current = plans.find((plan) => plan.id === usage.plan);
  const price = current ? current.price_cents : 0;
  byId("plan-name").textContent = current ? current.name : usage.plan;
  byId("plan-price").textContent = `${formatCents(price)} / month`;
  replaceChildren(byId("plan-period"), time(usage.period.start), " – ", time(usage.period.end));

  const mayBill = organization && BILLING_ROLES.has(organization.role);
  // Plans sold through Checkout; the others are given by an operator.
  const upgrades = plans.filter((plan) => plan.checkout && plan.price_cents > price);
  const buttons = upgrades.map((plan) =>
    h("button", {
      type: "button",
      class: "primary",
      on: { click: (event) => goTo(event.currentTarget, "/api/v1/billing/checkout", { plan: plan.id }) },
    }, `Upgrade to ${plan.name} (${formatCents(plan.price_cents)} / month)`));
  if (price > 0) {
    buttons.push(h("button", {
      type: "button",
      on: { click: (event) => goTo(event.currentTarget, "/api/v1/billing/portal") },
    }, "Manage billing"));
  }
  replaceChildren(
    byId("plan-actions"),
    mayBill ? buttons : h("p", { class: "note" }, "Owners and admins of the organisation manage its billing."),
  );
}

// Checkout and the portal are Stripe-hosted pages: the API gives their address.
function goTo(button, path, body) {
  return act(button, async () => {
    const session = await post(scoped(path, organizationId), body);
    window.location.assign(session.url);
  });
}

function renderMonth(usage) {
  replaceChildren(byId("month-requests"), count(usage.requests));
  replaceChildren(byId("month-cost"), money(usage.cost_micros));
  replaceChildren(byId("month-price"), money(usage.price_micros));
}

function renderDaily(days) {
  showBarCharts(byId("daily-charts"), {
    title: "Requests",
    days,
    value: (entry) => entry.requests,
    label: (entry) => count(entry.requests),
  }, {
    title: "Cost",
    days,
    value: (entry) => entry.cost_micros,
    label: (entry) => formatMicros(entry.cost_micros),
    alt: true,
  });
}

function renderLimits(usage) {
  const quotas = usage.quotas.map((quota) =>
    meter({
      name: `Daily ${quota.action} quota`,
      used: quota.used,
      limit: quota.limit,
      text: `${count(quota.used)} of ${count(quota.limit)} used · ${count(quota.remaining)} left`,
      resetsAt: quota.resets_at,
    }));
  const budget = usage.budget;
  const budgetMeter = budget.limit_micros === null
    ? h("p", {}, "Monthly budget: unlimited · ", money(budget.spent_micros), " spent")
    : meter({
      name: "Monthly AI budget",
      used: budget.spent_micros,
      reserved: budget.reserved_micros,
      limit: budget.limit_micros,
      text: [money(budget.spent_micros), " of ", money(budget.limit_micros), " spent",
        budget.reserved_micros > 0 ? [" · ", money(budget.reserved_micros), " in flight"] : "",
        " · ", money(budget.remaining_micros), " left"],
      resetsAt: usage.period.end,
    });
  replaceChildren(byId("limits-list"), quotas, budgetMeter);
}

function meter({ name, used, reserved = 0, limit, text, resetsAt }) {
  const share = (part) => (limit > 0 ? Math.min(100, (part / limit) * 100) : 100);
  const usedFill = h("div", { class: used >= limit ? "meter-fill full" : "meter-fill" });
  usedFill.style.width = `${share(used)}%`;
  const reservedFill = h("div", { class: "meter-fill reserved" });
  reservedFill.style.width = `${Math.min(share(reserved), 100 - share(used))}%`;
  return h(
    "div",
    { class: "meter" },
    h("div", { class: "meter-label" }, h("strong", {}, name), h("span", {}, text)),
    h("div", {
      class: "meter-track stacked",
      role: "meter",
      "aria-label": name,
      "aria-valuemin": 0,
      "aria-valuemax": limit,
      "aria-valuenow": Math.min(used, limit),
    }, usedFill, reservedFill),
    h("div", { class: "note" }, "Resets ", until(resetsAt), " (", time(resetsAt), ")"),
  );
}

async function loadEndpoints() {
  const { endpoints } = await get(scoped("/api/v1/webhook-endpoints", organizationId));
  if (endpoints.length === 0) {
    replaceChildren(byId("webhooks-list"), h("p", { class: "note" },
      "No webhook endpoints. Register one with POST /api/v1/webhook-endpoints to receive quota alerts."));
    return;
  }
  const deliveries = await Promise.all(endpoints.map((endpoint) =>
    get(scoped(`/api/v1/webhook-endpoints/${encodeURIComponent(endpoint.id)}/deliveries`, organizationId))));
  replaceChildren(
    byId("webhooks-list"),
    endpoints.map((endpoint, index) => endpointCard(endpoint, deliveries[index].deliveries)),
  );
}

const RECENT_DELIVERIES = 10;

function endpointCard(endpoint, deliveries) {
  const status = endpoint.disabled_reason
    ? h("span", { class: "badge loss" }, `disabled: ${endpoint.disabled_reason}`)
    : h("span", { class: "badge ok" }, "live");
  const recent = deliveries
    .slice()
    .sort((a, b) => new Date(b.created_at) - new Date(a.created_at))
    .slice(0, RECENT_DELIVERIES);
  return h(
    "div",
    { class: "endpoint" },
    h("h3", {}, h("code", {}, endpoint.url), " ", status),
    h("p", { class: "note" }, "Events: ", endpoint.events ? endpoint.events.join(", ") : "all",
      " · registered ", time(endpoint.created_at)),
    recent.length === 0
      ? h("p", { class: "note" }, "No deliveries yet.")
      : table(`Recent deliveries to ${endpoint.url}`, ["Event", "Status", "#Attempts", "Created", "webhook-id", "Last error"],
        recent.map((delivery) => h(
          "tr",
          { "data-webhook-id": delivery.webhook_id },
          h("td", {}, delivery.event),
          h("td", {}, delivery.status),
          h("td", { class: "number" }, count(delivery.attempts)),
          h("td", {}, time(delivery.created_at)),
          h("td", {}, h("code", {}, delivery.webhook_id)),
          h("td", {}, delivery.last_error ?? ""),
        ))),
  );
}
