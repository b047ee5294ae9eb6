// The login session: the access token lives in memory only, the refresh token in this tab's
// sessionStorage (never localStorage or a cookie), so that a reload keeps the session while
// closing the tab ends it, and the API needs no cookie authentication.

const REFRESH_TOKEN = "tollgate.refresh_token";
// Refresh this long before the access token expires, so that no request races its expiry.
const EARLY_MS = 30_000;

let access = null;
let refreshing = null;

export class SessionEnded extends Error {
  constructor() {
    super("Your session has ended. Please log in again.");
  }
}

export function hasSession() {
  return sessionStorage.getItem(REFRESH_TOKEN) !== null;
}

export async function login(email, password) {
  const response = await post("/auth/login", { email, password });
  if (!response.ok) throw await problemOf(response);
  keep(await response.json());
}

export async function accessToken() {
  if (access && Date.now() < access.expiresAt) return access.token;
  await refresh();
  return access.token;
}

// One refresh at a time: refresh tokens rotate, and presenting a rotated one twice is treated
// by the server as theft, revoking the whole login.
export function refresh() {
  refreshing ??= exchange().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export async function logout() {
  const token = sessionStorage.getItem(REFRESH_TOKEN);
  forget();
  if (token) await post("/auth/logout", { refresh_token: token }).catch(() => {});
}

async function exchange() {
  const token = sessionStorage.getItem(REFRESH_TOKEN);
  if (token === null) throw new SessionEnded();
  const response = await post("/auth/refresh", { refresh_token: token });
  if (response.status === 401 || response.status === 400 || response.status === 422) {
    forget();
    throw new SessionEnded();
  }
  // Anything else (503 while the database restarts) keeps the session for another try.
  if (!response.ok) throw await problemOf(response);
  keep(await response.json());
}

function keep(pair) {
  access = {
    token: pair.access_token,
    expiresAt: Date.now() + pair.expires_in * 1000 - EARLY_MS,
  };
  sessionStorage.setItem(REFRESH_TOKEN, pair.refresh_token);
}

function forget() {
  access = null;
  sessionStorage.removeItem(REFRESH_TOKEN);
}

function post(path, body) {
  return fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body),
  });
}

export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.type = problem.type;
  }
}

export async function problemOf(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  return new ApiProblem(response.status, body);
}
