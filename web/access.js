// Sign-up, the sign-in callback and the account page (API clients are on the dashboard).
import { api, finishSignIn, problemOf, signIn, signOut, signedIn } from "./lib/api.js";
import { sandboxBanner } from "./lib/page.js";

function showError(message) {
  const box = document.getElementById("account-error");
  if (box) box.textContent = message;
}

async function problemText(response) {
  const problem = await problemOf(response);
  return problem.detail || problem.title || response.statusText;
}

async function showAccount() {
  if (!signedIn()) {
    document.getElementById("signed-out").hidden = false;
    document.getElementById("sign-in").addEventListener("click", () => signIn("/account.html"));
    return;
  }
  const me = await api("/v1/me");
  sandboxBanner(me);
  document.getElementById("signed-in").hidden = false;
  document.getElementById("me-name").textContent = `${me.name} <${me.email}>`;
  document.getElementById("me-role").textContent = me.role;
  document.getElementById("me-standing").textContent = me.standing;
  document.getElementById("me-scopes").textContent = me.scopes.join(" ") || "none yet";
  document.getElementById("me-application").textContent = me.application
    ? `${me.application.status}${me.application.decision_reason ? ` — ${me.application.decision_reason}` : ""}`
    : "—";
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  // API clients moved to the dashboard (dashboard.js), with the rest of a researcher's tools.
  document.getElementById("clients-link").hidden = me.role !== "researcher";
  document.body.dataset.ready = "account";
}

async function submitApplication(event) {
  event.preventDefault();
  const data = new FormData(event.target);
  const body = {
    name: data.get("name"),
    email: data.get("email"),
    password: data.get("password"),
    institution: data.get("institution"),
    position: data.get("position"),
    research_purpose: data.get("research_purpose"),
    ethics_reference: data.get("ethics_reference"),
    intended_uses: data.getAll("intended_uses"),
    accepted_terms_version: data.get("accepted_terms_version") || "",
  };
  const response = await fetch("/v1/applications", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const result = document.getElementById("signup-result");
  result.textContent = response.ok
    ? "Thank you. A reviewer will read your application; sign in to follow it."
    : `Not sent: ${await problemText(response)}`;
  if (response.ok) event.target.reset();
}

document.addEventListener("DOMContentLoaded", () => {
  const run = (promise) => promise.catch((error) => showError(error.message));
  const signup = document.getElementById("signup");
  if (signup) {
    signup.addEventListener("submit", (event) => run(submitApplication(event)));
    document.body.dataset.ready = "signup";
  }
  if (location.pathname === "/callback.html") run(finishSignIn());
  if (location.pathname === "/account.html") run(showAccount());
});
