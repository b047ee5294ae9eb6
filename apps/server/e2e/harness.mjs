// What the console tests run against: the real `tollgate` binary on a fresh SQLite file, a fake
// OpenAI upstream and a fake Stripe on loopback, and Debian's headless Chromium.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repository = resolve(here, "../../..");

export const ADMIN = { email: "operator@example.com", password: "operator password 1" };
export const TOKENS = { prompt: 1200, completion: 300 };
export const ACCESS_TOKEN_TTL_SECONDS = 32;
export const CHAT_QUOTA = 10;

export function binary() {
  if (process.env.TOLLGATE_BIN) return process.env.TOLLGATE_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(repository, "target");
  return join(target, "debug", "tollgate");
}

// An HTTP server on a free loopback port; `handle(request, body)` returns {status, json|html}.
async function fakeServer(handle) {
  const requests = [];
  const server = createServer(async (request, response) => {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString();
    requests.push({ method: request.method, url: request.url, headers: request.headers, body });
    const reply = handle(request, body, server);
    if (reply.html !== undefined) {
      response.writeHead(reply.status ?? 200, { "content-type": "text/html; charset=utf-8" });
      response.end(reply.html);
    } else {
      response.writeHead(reply.status ?? 200, { "content-type": "application/json" });
      response.end(JSON.stringify(reply.json));
    }
  });
  await new Promise((ready) => server.listen(0, "127.0.0.1", ready));
  server.requests = requests;
  server.root = `http://127.0.0.1:${server.address().port}`;
  return server;
}

// An OpenAI chat completion with fixed token counts, so that each call's cost is known.
function fakeOpenAi() {
  return fakeServer(() => ({
    json: {
      id: "chatcmpl-e2e",
      object: "chat.completion",
      created: 1,
      model: "gpt-4o-mini",
      choices: [{ index: 0, message: { role: "assistant", content: "Hello" }, finish_reason: "stop" }],
      usage: {
        prompt_tokens: TOKENS.prompt,
        completion_tokens: TOKENS.completion,
        total_tokens: TOKENS.prompt + TOKENS.completion,
      },
    },
  }));
}

const fixture = (name) => JSON.parse(readFileSync(join(here, "fixtures", name), "utf8"));

// Stripe's customer and Checkout endpoints, answering with Stripe's own example objects; the
// Checkout page itself is a page of this server.
function fakeStripe() {
  return fakeServer((request, body, server) => {
    const form = new URLSearchParams(body);
    if (request.method === "POST" && request.url === "/v1/customers") {
      const customer = fixture("stripe-customer.json");
      customer.metadata.organization_id = form.get("metadata[organization_id]");
      return { json: customer };
    }
    if (request.method === "POST" && request.url === "/v1/checkout/sessions") {
      const session = fixture("stripe-checkout-session.json");
      session.client_reference_id = form.get("client_reference_id");
      session.url = `${server.root}/checkout/${form.get("line_items[0][price]")}`;
      return { json: session };
    }
    if (request.method === "GET" && request.url.startsWith("/checkout/")) {
      return { html: "<!doctype html><title>Fake Stripe Checkout</title><h1>Fake Stripe Checkout</h1>" };
    }
    return { status: 404, json: { error: { type: "invalid_request_error", message: "no such route" } } };
  });
}

async function startTollgate(openai, stripe, directory) {
  const child = spawn(binary(), [], {
    cwd: directory,
    env: {
      PATH: process.env.PATH,
      TOLLGATE_DATABASE__URL: `sqlite://${join(directory, "console.db")}`,
      TOLLGATE_SERVER__LISTEN: "127.0.0.1:0",
      TOLLGATE_AUTH__SIGNUP: "open",
      TOLLGATE_AUTH__JWT_SECRET: "console-e2e-secret-0123456789abcdef0123456789",
      TOLLGATE_AUTH__ADMIN_EMAIL: ADMIN.email,
      TOLLGATE_AUTH__ADMIN_PASSWORD: ADMIN.password,
      TOLLGATE_AUTH__PASSWORD_HASH_MEMORY_KIB: "256",
      // The console refreshes 30 s before expiry: its access tokens are due after 2 s.
      TOLLGATE_AUTH__ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TOKEN_TTL_SECONDS),
      TOLLGATE_OPENAI__BASE_URL: `${openai.root}/v1`,
      TOLLGATE_OPENAI__API_KEY: "sk-e2e",
      TOLLGATE_OPENAI__MAX_RETRIES: "0",
      TOLLGATE_STRIPE__API_BASE: stripe.root,
      TOLLGATE_STRIPE__SECRET_KEY: "sk_test_console",
      TOLLGATE_STRIPE__WEBHOOK_SECRET: "whsec_console",
      TOLLGATE_STRIPE__CHECKOUT_SUCCESS_URL: "http://127.0.0.1:9/ok",
      TOLLGATE_STRIPE__CHECKOUT_CANCEL_URL: "http://127.0.0.1:9/no",
      TOLLGATE_PLANS__PRO__STRIPE_PRICE_ID: "price_pro",
      TOLLGATE_WEBHOOKS__ALLOW_PRIVATE: "true",
      // Small enough that a test reaches the 80 % alert in a few calls.
      // (A quota table given replaces the plan's, so the other actions keep theirs here.)
      TOLLGATE_PLANS__FREE__DAILY_QUOTA__CHAT: String(CHAT_QUOTA),
      TOLLGATE_PLANS__FREE__DAILY_QUOTA__ANALYSIS: "5",
      TOLLGATE_PLANS__FREE__DAILY_QUOTA__COMPARISON: "2",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const lines = createInterface({ input: child.stderr });
  const log = [];
  const address = await new Promise((found, failed) => {
    const timer = setTimeout(() => failed(new Error(`tollgate did not start:\n${log.join("\n")}`)), 30_000);
    lines.on("line", (line) => {
      log.push(line);
      const match = /tollgate listening.*address[=":\s]+"?(127\.0\.0\.1:\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        found(match[1]);
      }
    });
    child.on("exit", (code) => failed(new Error(`tollgate exited (${code}):\n${log.join("\n")}`)));
    child.on("error", (error) => failed(new Error(`cannot run ${binary()}: ${error.message}`)));
  });
  return { child, root: `http://${address}`, log };
}

// A customer's webhook receiver: takes every delivery.
function webhookReceiver() {
  return fakeServer(() => ({ status: 200, json: {} }));
}

export async function start() {
  const directory = mkdtempSync(join(tmpdir(), "tollgate-console-"));
  const receiver = await webhookReceiver();
  const openai = await fakeOpenAi();
  const stripe = await fakeStripe();
  const tollgate = await startTollgate(openai, stripe, directory);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    root: tollgate.root,
    openai,
    stripe,
    receiver,
    browser,
    async stop() {
      await browser.close();
      tollgate.child.kill("SIGTERM");
      openai.close();
      stripe.close();
      receiver.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

// The API as any client calls it.
export async function api(root, method, path, { token, body } = {}) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${root}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : null };
}
