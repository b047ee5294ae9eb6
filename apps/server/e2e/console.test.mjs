// The web console in headless Chromium, against the real binary: what a customer and an
// operator do, checked against what the API says.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";

import { ACCESS_TOKEN_TTL_SECONDS, ADMIN, CHAT_QUOTA, api, binary, start } from "./harness.mjs";

const require = createRequire(import.meta.url);
const CUSTOMER = { email: "ada@example.com", password: "ada's long password" };
const screenshots = process.env.SCREENSHOT_DIR || join(dirname(dirname(binary())), "console-screenshots");

let world;
let customer; // {key, organization}
const pageErrors = [];

// Independent of the page's own formatting code: micro-dollars as exact dollars.
function dollars(micros) {
  const negative = micros < 0;
  const magnitude = Math.abs(micros);
  let fraction = String(magnitude % 1_000_000).padStart(6, "0");
  while (fraction.length > 2 && fraction.endsWith("0")) fraction = fraction.slice(0, -1);
  const whole = Math.floor(magnitude / 1_000_000).toLocaleString("en-US");
  return `${negative ? "−" : ""}$${whole}.${fraction}`;
}

async function newPage(options = {}) {
  const context = await world.browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  // The console's own pages only: Stripe's Checkout page is not ours.
  const ours = () => page.url().startsWith(world.root);
  page.on("pageerror", (error) => {
    if (ours()) pageErrors.push(`${page.url()}: ${error.message}`);
  });
  page.on("console", (message) => {
    if (message.type() === "error" && ours()) pageErrors.push(`${page.url()}: ${message.text()}`);
  });
  return page;
}

async function logIn(page, path, who) {
  await page.goto(`${world.root}${path}`);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#account").waitFor();
}

// A fresh access token: they live 32 s here.
async function accessToken(who) {
  const login = await api(world.root, "POST", "/auth/login", { body: who });
  assert.equal(login.status, 200, JSON.stringify(login.json));
  return login.json.access_token;
}

async function chat(key) {
  return api(world.root, "POST", "/v1/chat/completions", {
    token: key,
    body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] },
  });
}

before(async () => {
  mkdirSync(screenshots, { recursive: true });
  world = await start();
  const signup = await api(world.root, "POST", "/auth/signup", { body: CUSTOMER });
  assert.equal(signup.status, 201, JSON.stringify(signup.json));
  const access = await accessToken(CUSTOMER);
  const created = await api(world.root, "POST", "/api/v1/keys", {
    token: access,
    body: { name: "backend", environment: "production" },
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const me = await api(world.root, "GET", "/api/v1/me", { token: access });
  customer = { key: created.json.key, organization: me.json.organization };
});

after(async () => {
  await world?.stop();
});

test("pages come with a policy that forbids inline and foreign scripts", async () => {
  for (const path of ["/console", "/console/admin", "/console/assets/customer.js"]) {
    const response = await fetch(`${world.root}${path}`);
    assert.equal(response.status, 200, path);
    const policy = response.headers.get("content-security-policy");
    assert.match(policy, /script-src 'self'/, path);
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval|https?:|\*/, path);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  }
  const missing = await fetch(`${world.root}/console/assets/nothing.js`);
  assert.equal(missing.status, 404);
  assert.match(missing.headers.get("content-type"), /problem\+json/);
});

test("a customer logs in and sees a metered call in usage, to the micro-dollar", async () => {
  const call = await chat(customer.key);
  assert.equal(call.status, 200, JSON.stringify(call.json));
  const access = await accessToken(CUSTOMER);
  const usage = (await api(world.root, "GET", "/api/v1/usage", { token: access })).json;
  const daily = (await api(world.root, "GET", "/api/v1/usage/daily?days=30", { token: access })).json;
  assert.equal(usage.requests, 1);
  assert.ok(usage.cost_micros > 0);

  const page = await newPage();
  await logIn(page, "/console", CUSTOMER);
  await page.locator("#month-requests").getByText("1", { exact: true }).waitFor();
  const cost = page.locator("#month-cost data");
  assert.equal(await cost.getAttribute("value"), String(usage.cost_micros));
  assert.equal(await cost.textContent(), dollars(usage.cost_micros));
  assert.equal(await page.locator("#month-price data").getAttribute("value"), String(usage.price_micros));

  // The charts: 30 bars each, today's bar with today's figures.
  const today = daily.days.at(-1);
  assert.equal(daily.days.length, 30);
  assert.equal(await page.locator("#daily-charts figure").first().locator("rect").count(), 30);
  const costTitle = await page.locator("#daily-charts figure").nth(1).locator("rect").last().locator("title").textContent();
  assert.ok(costTitle.endsWith(`: ${dollars(today.cost_micros)}`), costTitle);

  // The chat quota and the budget, as the usage endpoint counts them.
  const quota = usage.quotas.find((entry) => entry.action === "chat");
  await page.getByText(`${quota.used} of ${quota.limit} used`).waitFor();
  const chatMeter = page.getByRole("meter", { name: "Daily chat quota" });
  assert.equal(await chatMeter.getAttribute("aria-valuenow"), String(quota.used));
  const budget = page.getByRole("meter", { name: "Monthly AI budget" });
  assert.equal(await budget.getAttribute("aria-valuenow"), String(usage.budget.spent_micros));

  // The key that made the call, with its call.
  const row = page.locator("#keys-list tr", { hasText: "backend" });
  assert.equal(await row.locator("td.number").first().textContent(), "1");
  // `last_used_at` is written in batches every few seconds.
  const lastUsed = row.locator("time").nth(1);
  for (let attempt = 0; attempt < 20 && (await lastUsed.count()) === 0; attempt += 1) {
    await page.waitForTimeout(1000);
    await page.reload();
    await row.waitFor();
  }
  assert.equal(await lastUsed.count(), 1, "last used is shown");

  // Tokens stay out of cookies and localStorage.
  assert.deepEqual(await page.context().cookies(), []);
  assert.equal(await page.evaluate(() => localStorage.length), 0);

  // A reload keeps the session: the refresh token in sessionStorage is exchanged for a new pair.
  const before = await page.evaluate(() => sessionStorage.getItem("tollgate.refresh_token"));
  await page.reload();
  await page.locator("#month-requests").getByText("1", { exact: true }).waitFor();
  const afterReload = await page.evaluate(() => sessionStorage.getItem("tollgate.refresh_token"));
  assert.notEqual(afterReload, before, "the refresh token rotated");

  await page.context().close();
});

test("a webhook endpoint is listed with its recent deliveries", async () => {
  const access = await accessToken(CUSTOMER);
  const endpoint = await api(world.root, "POST", "/api/v1/webhook-endpoints", {
    token: access,
    body: { url: `${world.receiver.root}/hooks`, events: ["quota.threshold_reached"] },
  });
  assert.equal(endpoint.status, 201, JSON.stringify(endpoint.json));
  // Up to 80 % of the daily chat quota: one alert.
  const usage = (await api(world.root, "GET", "/api/v1/usage", { token: access })).json;
  const used = usage.quotas.find((quota) => quota.action === "chat").used;
  for (let call = used; call < (CHAT_QUOTA * 8) / 10; call += 1) {
    assert.equal((await chat(customer.key)).status, 200);
  }
  const delivered = async () => world.receiver.requests.find((request) => request.url === "/hooks");
  for (let wait = 0; wait < 30 && !(await delivered()); wait += 1) {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const delivery = await delivered();
  assert.ok(delivery, "the receiver got the alert");
  assert.equal(JSON.parse(delivery.body).type, "quota.threshold_reached");

  const page = await newPage();
  await logIn(page, "/console", CUSTOMER);
  const card = page.locator("#webhooks-list .endpoint", { hasText: `${world.receiver.root}/hooks` });
  await card.getByText("live", { exact: true }).waitFor();
  const row = card.locator(`tr[data-webhook-id="${delivery.headers["webhook-id"]}"]`);
  for (let attempt = 0; attempt < 10 && !(await row.getByText("delivered", { exact: true }).count()); attempt += 1) {
    await page.waitForTimeout(500);
    await page.reload();
    await card.waitFor();
  }
  assert.equal(await row.locator("td").first().textContent(), "quota.threshold_reached");
  await row.getByText("delivered", { exact: true }).waitFor();
  await page.screenshot({ path: join(screenshots, "console-customer.png"), fullPage: true });
  await page.context().close();
});

test("a new key's secret is shown once, works, and stops working when revoked", async () => {
  const page = await newPage();
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: world.root });
  await logIn(page, "/console", CUSTOMER);
  const form = page.getByRole("form", { name: "Create an API key" });
  await form.getByLabel("Name").fill("ci-test");
  await form.getByLabel("Environment").selectOption("staging");
  await form.getByRole("button", { name: "Create key" }).click();

  const dialog = page.getByRole("dialog", { name: "Your new API key" });
  await dialog.waitFor();
  const secret = await page.locator("#secret-value").textContent();
  assert.match(secret, /^tg_/);
  assert.equal((await api(world.root, "GET", "/api/v1/me", { token: secret })).status, 200);
  await dialog.getByRole("button", { name: "Copy" }).click();
  await dialog.getByText("Copied.").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await dialog.getByRole("button", { name: "Done" }).click();
  await dialog.waitFor({ state: "hidden" });
  assert.ok(!(await page.content()).includes(secret), "the secret is gone from the page");

  const row = page.locator("#keys-list tr", { hasText: "ci-test" });
  await row.getByText("active").waitFor();
  assert.equal(await row.locator("td").nth(1).textContent(), "staging");
  await page.reload();
  await row.waitFor();
  assert.ok(!(await page.content()).includes(secret), "and never shown again");

  // Cancelling changes nothing; confirming revokes.
  await row.getByRole("button", { name: "Revoke" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  assert.equal((await api(world.root, "GET", "/api/v1/me", { token: secret })).status, 200);
  await row.getByRole("button", { name: "Revoke" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
  await row.getByText("revoked").waitFor();
  assert.equal((await api(world.root, "GET", "/api/v1/me", { token: secret })).status, 401);
  assert.equal((await api(world.root, "GET", "/api/v1/me", { token: customer.key })).status, 200,
    "the other key still works");
  await page.context().close();
});

test("a key rotates with a grace period, and the new secret is shown once", async () => {
  const page = await newPage();
  await logIn(page, "/console", CUSTOMER);
  const created = await api(world.root, "POST", "/api/v1/keys", {
    token: await accessToken(CUSTOMER),
    body: { name: "rotating", environment: "development" },
  });
  const old = created.json.key;
  await page.reload();
  const row = page.locator("#keys-list tr", { hasText: "rotating" });
  await row.getByRole("button", { name: "Rotate" }).click();
  const rotate = page.getByRole("dialog", { name: /Rotate/ });
  await rotate.getByLabel("The old secret stops working").selectOption("3600");
  await rotate.getByRole("button", { name: "Rotate key" }).click();
  await page.getByRole("dialog", { name: "Your new API key" }).waitFor();
  const replacement = await page.locator("#secret-value").textContent();
  assert.notEqual(replacement, old);
  assert.equal((await api(world.root, "GET", "/api/v1/me", { token: replacement })).status, 200);
  assert.equal((await api(world.root, "GET", "/api/v1/me", { token: old })).status, 200, "in its grace period");
  await page.context().close();
});

test("tokens due to expire are refreshed once, even for calls made together", async () => {
  const page = await newPage();
  await logIn(page, "/console", CUSTOMER);
  const refreshes = [];
  page.on("request", (request) => {
    if (request.url().endsWith("/auth/refresh")) refreshes.push(request);
  });
  const due = (ACCESS_TOKEN_TTL_SECONDS - 30) * 1000 + 500;
  await page.waitForTimeout(due);
  const form = page.getByRole("form", { name: "Create an API key" });
  await form.getByLabel("Name").fill("after-refresh");
  await form.getByRole("button", { name: "Create key" }).click();
  const dialog = page.getByRole("dialog", { name: "Your new API key" });
  await dialog.waitFor();
  assert.equal(refreshes.length, 1, "one refresh before the create call");
  // Closing the dialog reloads the page's figures with several calls at once, on a token that
  // is due again: one refresh serves them all (two with the same refresh token would be reuse,
  // which revokes the login).
  await page.waitForTimeout(due);
  await dialog.getByRole("button", { name: "Done" }).click();
  await page.locator("#keys-list tr", { hasText: "after-refresh" }).waitFor();
  assert.equal(refreshes.length, 2);
  assert.equal(await page.locator("#login").isVisible(), false);
  await page.reload();
  await page.locator("#keys-list tr", { hasText: "after-refresh" }).waitFor();
  assert.equal(await page.locator("#login").isVisible(), false, "the login survived");
  await page.context().close();
});

test("upgrading goes to Stripe Checkout for the chosen plan", async () => {
  const page = await newPage();
  await logIn(page, "/console", CUSTOMER);
  // Pro has a Stripe price here; Enterprise does not, so it is not offered.
  assert.equal(await page.getByRole("button", { name: /^Upgrade to Enterprise/ }).count(), 0);
  await page.getByRole("button", { name: /^Upgrade to Pro/ }).click();
  await page.waitForURL(/\/checkout\/price_pro$/);
  assert.equal(await page.title(), "Fake Stripe Checkout");
  const checkout = world.stripe.requests.find((request) => request.url === "/v1/checkout/sessions");
  assert.equal(new URLSearchParams(checkout.body).get("client_reference_id"), customer.organization.id);
  await page.context().close();
});

test("a customer is not an operator", async () => {
  const page = await newPage();
  await logIn(page, "/console/admin", CUSTOMER);
  await page.getByRole("heading", { name: "Operators only" }).waitFor();
  assert.equal(await page.locator("#operator").isVisible(), false);
  await page.context().close();
});

test("an operator sees the organisation among top spenders and suspends it", async () => {
  const adminToken = await accessToken(ADMIN);
  const stats = (await api(world.root, "GET", "/admin/stats", { token: adminToken })).json;
  const spender = stats.top_spenders.find((entry) => entry.organization_id === customer.organization.id);
  assert.ok(spender, JSON.stringify(stats));

  const page = await newPage();
  await logIn(page, "/console/admin", ADMIN);
  const row = page.locator(`#spenders-list tr[data-organization-id="${customer.organization.id}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), new RegExp(customer.organization.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  assert.equal(await row.locator("td.number data").first().getAttribute("value"), String(spender.cost_month_micros));
  // It costs more than it brought in (a free plan): highlighted and listed as unprofitable.
  assert.match(await row.getAttribute("class"), /loss/);
  await page.locator(`#unprofitable-list tr[data-organization-id="${customer.organization.id}"]`).waitFor();
  const margin = await page.locator("#overview-figures data").nth(2).getAttribute("value");
  assert.equal(margin, String(stats.margin_month_micros));
  // The unit-economics table: one row per plan, losing plans flagged.
  const pricing = (await api(world.root, "GET", "/admin/pricing", { token: adminToken })).json;
  assert.equal(await page.locator("#pricing-table tbody tr:not(.reasons)").count(), pricing.plans.length);
  assert.equal(await page.locator("#pricing-table tbody tr.loss:not(.reasons)").count(),
    pricing.plans.filter((plan) => plan.loses_money).length);
  for (const reason of pricing.plans.flatMap((plan) => plan.reasons)) {
    await page.locator("#pricing-table").getByText(reason, { exact: true }).waitFor();
  }

  await row.getByRole("button", { name: /^Suspend / }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Suspend" }).click();
  await row.getByText("suspended").waitFor();
  const refused = await chat(customer.key);
  assert.equal(refused.status, 403);
  assert.equal(refused.json.type, "suspended");
  await page.locator("#audit-list").getByText("suspend", { exact: true }).waitFor();

  await row.getByRole("button", { name: /^Unsuspend / }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Unsuspend" }).click();
  await row.getByRole("button", { name: /^Suspend / }).waitFor();
  assert.equal((await chat(customer.key)).status, 200);
  await page.locator("#audit-list").getByText("unsuspend", { exact: true }).waitFor();
  await page.screenshot({ path: join(screenshots, "console-admin.png"), fullPage: true });
  await page.context().close();
});

test("usable at phone width, in dark mode", async () => {
  const page = await newPage({ viewport: { width: 390, height: 844 }, colorScheme: "dark", isMobile: true });
  await logIn(page, "/console", CUSTOMER);
  await page.locator("#keys-list table").waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = background.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `dark background, got ${background}`);
  await page.screenshot({ path: join(screenshots, "console-phone-dark.png"), fullPage: true });
  await page.context().close();
});

test("both pages pass axe's accessibility rules", async () => {
  const axe = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  for (const [path, who, filled] of [["/console", CUSTOMER, "#keys-list table"], ["/console/admin", ADMIN, "#spenders-list table"]]) {
    // The page forbids injected scripts, so axe runs in a context that ignores the policy.
    const page = await newPage({ bypassCSP: true });
    await logIn(page, path, who);
    await page.locator(filled).waitFor();
    await page.addScriptTag({ content: axe });
    const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
    const serious = result.violations.filter((violation) => ["serious", "critical"].includes(violation.impact));
    assert.deepEqual(serious.map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target).join(" ")}`), [], path);
    await page.context().close();
  }
});

test("no page logged an error or broke its content policy", () => {
  assert.deepEqual(pageErrors, []);
});
