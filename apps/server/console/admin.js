// The operator console (`/console/admin`, role admin): this month's revenue, cost and margin,
// AI cost per day, top spenders and unprofitable organisations (with suspension), the
// unit-economics report and recent audit entries.

import { get, post } from "./api.js";
import { showBarCharts } from "./chart.js";
import { byId, confirmAction, h, replaceChildren, table, time } from "./dom.js";
import { count, formatCents, formatMicros, money } from "./money.js";
import { act, announce, startPage } from "./shell.js";

const DAYS = 30;
const AUDIT_ENTRIES = 20;

let myId = null;

startPage(async (me) => {
  myId = me.user.id;
  const admin = me.user.role === "admin";
  byId("forbidden").hidden = admin;
  byId("operator").hidden = !admin;
  if (admin) await load();
});

async function load() {
  const [stats, daily, pricing, audit] = await Promise.all([
    get("/admin/stats"),
    get(`/admin/usage/daily?days=${DAYS}`),
    get("/admin/pricing"),
    get(`/admin/audit?limit=${AUDIT_ENTRIES}`),
  ]);
  renderOverview(stats);
  showBarCharts(byId("cost-chart"), {
    title: "AI cost per day",
    days: daily.days,
    value: (entry) => entry.cost_micros,
    label: (entry) => formatMicros(entry.cost_micros),
  });
  renderOrganizations(byId("spenders-list"), stats.top_spenders, "No usage this month yet.");
  renderOrganizations(byId("unprofitable-list"), stats.unprofitable, "Every organisation pays for itself this month.");
  renderPricing(pricing);
  const names = new Map([...stats.top_spenders, ...stats.unprofitable]
    .map((organization) => [organization.organization_id, organization.name]));
  renderAudit(audit.entries, names);
}

function renderOverview(stats) {
  const figures = [
    ["Revenue this month", money(stats.revenue_month_micros)],
    ["AI cost this month", money(stats.cost_month_micros)],
    ["Margin this month", money(stats.margin_month_micros)],
    ["AI cost today", money(stats.cost_today_micros)],
    ["Requests today", count(stats.requests_today)],
    ["Organisations", count(stats.organizations)],
    ["Users", count(stats.users)],
  ];
  replaceChildren(byId("overview-figures"), figures.map(([name, value]) =>
    h("div", {}, h("dt", {}, name), h("dd", {}, value))));
}

function renderOrganizations(container, organizations, empty) {
  if (organizations.length === 0) {
    replaceChildren(container, h("p", { class: "note" }, empty));
    return;
  }
  const rows = organizations.map((organization) => {
    const loss = BigInt(organization.cost_month_micros) > BigInt(organization.revenue_month_micros);
    const margin = BigInt(organization.revenue_month_micros) - BigInt(organization.cost_month_micros);
    return h(
      "tr",
      { class: loss ? "loss" : null, "data-organization-id": organization.organization_id },
      h("th", { scope: "row" }, organization.name, " ", h("code", { class: "note" }, organization.organization_id.slice(0, 8))),
      h("td", {}, organization.plan),
      h("td", { class: "number" }, money(organization.cost_month_micros)),
      h("td", { class: "number" }, money(organization.revenue_month_micros)),
      h("td", { class: "number" }, money(margin)),
      h("td", {}, [
        loss ? h("span", { class: "badge loss" }, "unprofitable") : "",
        organization.suspended ? h("span", { class: "badge warn" }, "suspended") : "",
      ]),
      h("td", {}, suspensionButton(organization)),
    );
  });
  replaceChildren(container, table("Organisations", ["Organisation", "Plan", "#AI cost", "#Revenue", "#Margin", "Flags", "Action"], rows));
}

function suspensionButton(organization) {
  const suspend = !organization.suspended;
  const verb = suspend ? "Suspend" : "Unsuspend";
  return h("button", {
    type: "button",
    class: suspend ? "danger" : null,
    "aria-label": `${verb} ${organization.name}`,
    on: {
      click: async (event) => {
        const button = event.currentTarget;
        const question = suspend
          ? `Suspend “${organization.name}”? Its keys and tokens get 403 suspended at once, on every instance within a second.`
          : `Lift the suspension of “${organization.name}”?`;
        if (!(await confirmAction(question, verb))) return;
        await act(button, async () => {
          const action = suspend ? "suspend" : "unsuspend";
          await post(`/admin/organizations/${encodeURIComponent(organization.organization_id)}/${action}`);
          announce(`${organization.name} ${suspend ? "suspended" : "unsuspended"}.`);
          await load();
        });
      },
    },
  }, verb);
}

function renderPricing(report) {
  const rows = report.plans.flatMap((plan) => [h(
    "tr",
    { class: plan.loses_money ? "loss" : null },
    h("th", { scope: "row" }, plan.plan, " ",
      plan.loses_money ? h("span", { class: "badge loss" }, "loses money") : h("span", { class: "badge ok" }, "profitable")),
    h("td", { class: "number" }, formatCents(plan.price_cents)),
    h("td", { class: "number" }, money(plan.average.ai_cost_micros)),
    h("td", { class: "number" }, money(plan.average.margin_micros)),
    h("td", { class: "number" }, money(plan.heavy.ai_cost_micros)),
    h("td", { class: "number" }, money(plan.heavy.margin_micros)),
    h("td", { class: "number" }, plan.break_even_price_cents === null ? "—" : formatCents(plan.break_even_price_cents)),
  ), plan.reasons.length === 0 ? null : h(
    "tr",
    { class: "loss reasons" },
    h("td", { colspan: 7 }, h("ul", {}, plan.reasons.map((reason) => h("li", {}, reason)))),
  )]).filter(Boolean);
  replaceChildren(
    byId("pricing-table"),
    table("Unit economics per plan", ["Plan", "#Price / month", "#AI cost (average)", "#Margin (average)",
      "#AI cost (heavy)", "#Margin (heavy)", "#Break-even price"], rows),
    h("p", { class: "note" }, `Model prices as of ${report.prices_as_of}; ${report.days_per_month} days a month. `
      + "Average: the configured expected calls; heavy: every quota spent every day."),
  );
}

// Ids as the audit log records them, named where this page knows the name.
function renderAudit(entries, names) {
  if (entries.length === 0) {
    replaceChildren(byId("audit-list"), h("p", { class: "note" }, "No administrative actions yet."));
    return;
  }
  replaceChildren(byId("audit-list"), table("Recent audit entries", ["When", "Who", "Action", "Target"],
    entries.map((entry) => h(
      "tr",
      {},
      h("td", {}, time(entry.at)),
      h("td", {}, entry.actor === myId ? "you" : h("code", {}, entry.actor)),
      h("td", {}, entry.action),
      h("td", {}, names.has(entry.target)
        ? [names.get(entry.target), " ", h("code", { class: "note" }, entry.target.slice(0, 8))]
        : h("code", {}, entry.target)),
    ))));
}
