// The management API as the dashboard calls it: a bearer token from the service's own
// token endpoint (OAuth client credentials, as `az login --service-principal` gets one),
// then the ARM routes `az` uses and the read-only `/_sim` routes.
// The token lives in sessionStorage only (gone with the tab), never in a URL; the client
// secret is sent once to the token endpoint and not kept.

const TOKEN_KEY = "vaultsim.dashboard.token";
const ARM_SCOPE = "https://management.core.windows.net//.default";

export const API_VERSIONS = {
  subscriptions: "2022-12-01",
  resources: "2021-04-01",
  compute: "2024-11-01",
  recoveryServices: "2023-04-01",
};

/** An answer of the API that was not a success: its ARM (or Entra ID) error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Whether this service wants tokens at all (`vaultsim serve --no-auth` does not). */
export async function authRequired() {
  const response = await fetch("/_sim/auth", { headers: { Accept: "application/json" } });
  if (!response.ok) {
    throw await errorOf(response);
  }
  return (await response.json()).required;
}

/** Gets and keeps a token for the principal of `credentials` ({tenantId, clientId, clientSecret}). */
export async function signIn({ tenantId, clientId, clientSecret }) {
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: clientId,
    client_secret: clientSecret,
    scope: ARM_SCOPE,
  });
  const response = await fetch(`/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form,
  });
  if (!response.ok) {
    throw await errorOf(response);
  }
  const grant = await response.json();
  const session = {
    token: grant.access_token,
    clientId,
    expiresAt: Date.now() + grant.expires_in * 1000,
  };
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
  return session;
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The kept session, unless it has expired. */
export function currentSession() {
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (!kept) {
    return null;
  }
  try {
    const session = JSON.parse(kept);
    if (session.expiresAt > Date.now() + 30_000) {
      return session;
    }
  } catch {
    // A value this page did not write: treated as no session.
  }
  signOut();
  return null;
}

/** Calls `method path` (path with or without a query), JSON in and out. */
export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const session = currentSession();
  if (session) {
    headers.Authorization = `Bearer ${session.token}`;
  }
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    throw await errorOf(response);
  }
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** `path` with `api-version` (and other parameters) added. */
export function withQuery(path, params) {
  const query = new URLSearchParams(params).toString();
  return `${path}${path.includes("?") ? "&" : "?"}${query}`;
}

/** Every page of an ARM list. */
export async function listAll(path, apiVersion) {
  const items = [];
  let next = withQuery(path, { "api-version": apiVersion });
  while (next) {
    const page = await call("GET", next);
    items.push(...(page.value || []));
    next = page.nextLink ? sameOrigin(page.nextLink) : null;
  }
  return items;
}

/** A link the service wrote (absolute, possibly with its public URL) as a path on this origin. */
function sameOrigin(link) {
  const url = new URL(link, window.location.href);
  return url.pathname + url.search;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: the status says what there is to say.
  }
  if (body && body.error && typeof body.error === "object") {
    return new ApiError(response.status, body.error.code, body.error.message);
  }
  if (body && typeof body.error === "string") {
    // Entra ID's token endpoint: {"error","error_description"}.
    const description = (body.error_description || "").split("\r\n")[0];
    return new ApiError(response.status, body.error, description);
  }
  return new ApiError(response.status, `HTTP${response.status}`, response.statusText || "request failed");
}
