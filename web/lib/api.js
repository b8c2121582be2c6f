// What every signed-in page shares: the OAuth 2 sign-in (authorization code + PKCE S256, public
// client "lpm-guard-web"), the access token, calls to the API with problem+json errors, and the
// page header. Tokens live in sessionStorage: they are gone when the tab closes.

export const CLIENT_ID = "lpm-guard-web";
const REDIRECT_URI = `${location.origin}/callback.html`;
const store = window.sessionStorage;

/** An API call that failed: `status` is the HTTP status, `problem` the problem+json body. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.error_description || problem.title || problem.error || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size) {
  return b64url(crypto.getRandomValues(new Uint8Array(size)));
}

export async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return { title: response.statusText || `HTTP ${response.status}` };
  }
}

export function signedIn() {
  return Boolean(store.getItem("access_token"));
}

/** Start the authorization code flow; after it, the callback page returns to `returnTo`. */
export async function signIn(returnTo = location.pathname + location.search) {
  const verifier = randomString(48);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const state = randomString(16);
  store.setItem("pkce_verifier", verifier);
  store.setItem("oauth_state", state);
  store.setItem("return_to", returnTo.startsWith("/") && !returnTo.startsWith("//") ? returnTo : "/");
  const query = new URLSearchParams({
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    state,
    code_challenge: b64url(digest),
    code_challenge_method: "S256",
  });
  location.assign(`/oauth/authorize?${query}`);
}

async function token(form) {
  const response = await fetch("/oauth/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: CLIENT_ID, ...form }),
  });
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  const tokens = await response.json();
  store.setItem("access_token", tokens.access_token);
  if (tokens.refresh_token) store.setItem("refresh_token", tokens.refresh_token);
  return tokens;
}

/** The callback page: check the state, exchange the code, go back where sign-in started. */
export async function finishSignIn() {
  const params = new URLSearchParams(location.search);
  if (params.get("error")) throw new Error(params.get("error_description") || params.get("error"));
  if (!params.get("code") || params.get("state") !== store.getItem("oauth_state")) {
    throw new Error("this sign-in did not start here; start again");
  }
  await token({
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: REDIRECT_URI,
    code_verifier: store.getItem("pkce_verifier"),
  });
  const back = store.getItem("return_to") || "/dashboard.html";
  for (const key of ["pkce_verifier", "oauth_state", "return_to"]) store.removeItem(key);
  location.replace(back === "/" || back === "/callback.html" ? "/dashboard.html" : back);
}

export function accessToken() {
  return store.getItem("access_token");
}

/** fetch() with the access token; on 401, rotate the refresh token once and retry. */
export async function authorizedFetch(path, options = {}, retry = true) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${accessToken()}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 && retry && store.getItem("refresh_token")) {
    await token({ grant_type: "refresh_token", refresh_token: store.getItem("refresh_token") });
    return authorizedFetch(path, options, false);
  }
  return response;
}

/**
 * Call the API and return its JSON (null for 204). `body` may be an object (sent as JSON) or
 * FormData. Throws ApiError with the problem+json body on any non-2xx answer.
 */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const options = { method, headers: { ...headers } };
  if (body instanceof FormData || body instanceof Blob) {
    options.body = body;
  } else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  const response = await authorizedFetch(path, options);
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response.status === 204 ? null : response.json();
}

/**
 * Server-Sent Events from an API route, with the bearer token (EventSource cannot send one):
 * yields each event's parsed JSON `data` until the server ends the stream. Throws ApiError when
 * the route refuses.
 */
export async function* serverEvents(path) {
  const response = await authorizedFetch(path, { headers: { Accept: "text/event-stream" } });
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim());
      if (data.length) yield JSON.parse(data.join("\n"));
    }
  }
}

/** Revoke the refresh token (and with it the access token), forget both, reload `next`. */
export async function signOut(next = location.pathname) {
  const refresh = store.getItem("refresh_token");
  if (refresh) {
    await fetch("/oauth/revoke", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: CLIENT_ID, token: refresh, token_type_hint: "refresh_token" }),
    });
  }
  store.clear();
  location.assign(next);
}

/** Who is signed in (GET /v1/me), or null when nobody is. */
export async function currentUser() {
  if (!signedIn()) return null;
  try {
    return await api("/v1/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      store.clear();
      return null;
    }
    throw error;
  }
}
