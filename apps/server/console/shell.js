// What both pages share: the login form, the account bar, logging out, and reporting outcomes.

import { SessionEnded, get } from "./api.js";
import { byId } from "./dom.js";
import { hasSession, login, logout } from "./session.js";

// Shows the login form until there is a session, then `show(me)` with the caller's account.
export function startPage(show) {
  const form = byId("login-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    byId("login-error").textContent = "";
    try {
      await login(form.elements.email.value.trim(), form.elements.password.value);
      form.reset();
      await enter(show);
    } catch (error) {
      byId("login-error").textContent = error.status === 401
        ? "Wrong email or password."
        : error.message;
    } finally {
      button.disabled = false;
    }
  });
  byId("logout").addEventListener("click", async () => {
    await logout();
    signedOut("You are logged out.");
  });
  if (hasSession()) {
    enter(show).catch(report);
  } else {
    signedOut("");
  }
}

async function enter(show) {
  const me = await get("/api/v1/me");
  byId("who").textContent = me.user.email;
  byId("login").hidden = true;
  byId("account").hidden = false;
  byId("console").hidden = false;
  await show(me);
}

function signedOut(message) {
  byId("console").hidden = true;
  byId("account").hidden = true;
  byId("login").hidden = false;
  byId("login-error").textContent = message;
  announce("");
}

// A success, read out by screen readers without moving focus.
export function announce(message) {
  byId("problem").textContent = "";
  byId("status").textContent = message;
}

// A failure: the problem's `detail`, or back to the login form when the session ended.
export function report(error) {
  if (error instanceof SessionEnded) {
    signedOut(error.message);
    return;
  }
  byId("status").textContent = "";
  byId("problem").textContent = error.message;
}

// Runs a button's action: the button is disabled meanwhile, a failure is reported.
export async function act(button, action) {
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    report(error);
  } finally {
    button.disabled = false;
  }
}
