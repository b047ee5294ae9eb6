// The public JSON API, as the console calls it: the same routes and tokens any client uses.

import { SessionEnded, accessToken, problemOf, refresh } from "./session.js";

export { SessionEnded };

export async function call(method, path, body) {
  let response = await send(method, path, body, await accessToken());
  if (response.status === 401) {
    // Revoked or expired early: one refresh, one retry; a second 401 ends the session.
    await refresh();
    response = await send(method, path, body, await accessToken());
    if (response.status === 401) throw new SessionEnded();
  }
  if (!response.ok) throw await problemOf(response);
  return response.status === 204 ? null : response.json();
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const remove = (path) => call("DELETE", path);

// `path` with `?organization_id=` (or `&…`) when an organisation is chosen.
export function scoped(path, organizationId) {
  if (!organizationId) return path;
  const separator = path.includes("?") ? "&" : "?";
  return `${path}${separator}organization_id=${encodeURIComponent(organizationId)}`;
}

function send(method, path, body, token) {
  const headers = { authorization: `Bearer ${token}`, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
