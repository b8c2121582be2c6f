// The reviewer console: applications, researchers, identities and consent, protected people,
// live sessions and offline jobs, and the audit log with an inclusion check done in the browser.

import { api } from "/lib/api.js";
import { $, badge, cell, el, formatSeconds, formatTime, say, startPage } from "/lib/page.js";
import { CheckFailed, checkInclusion } from "/lib/merkle.js";

const STEP_NAMES = {
  leaf: "the entry's hash",
  size: "the proof's tree size",
  path: "the proof's path",
  root: "the root hash",
  key: "the signing key",
  signature: "the checkpoint's signature",
  format: "reading the proof or checkpoint",
};

function statusKind(status) {
  if (["approved", "consented", "open", "succeeded", "running"].includes(status)) return "ok";
  if (["suspended", "revoked", "rejected", "failed", "denied"].includes(status)) return "bad";
  return "warn";
}

function outcomeKind(outcome) {
  if (["success", "allow"].includes(outcome)) return "ok";
  if (["denied", "deny", "failure", "refused"].includes(outcome)) return "bad";
  return "warn";
}

/** Put `rows` into a table body, or one row saying there are none. */
function fill(tbody, rows, none) {
  const columns = tbody.closest("table").querySelectorAll("thead th").length;
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: columns, class: "muted" }, none))]));
}

function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}.`;
}

function words(value) {
  return String(value).replaceAll("_", " ");
}

function day(iso) {
  return iso ? new Date(iso).toLocaleDateString() : "—";
}

/** A text input with a visible label, named for whom it acts on. */
function field(label, input) {
  return el("label", {}, label, input);
}

/** Run `work` with the button disabled; show what happened in `box`. */
async function act(button, box, work) {
  button.disabled = true;
  try {
    const message = await work();
    if (message) say(box, message, "ok");
  } catch (error) {
    say(box, `Refused: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

function needReason(input, box) {
  const reason = input.value.trim();
  if (!reason) {
    say(box, "Write a reason first: it goes into the audit log.", "error");
    input.focus();
  }
  return reason;
}

// -- 1. applications ------------------------------------------------------------------------

async function loadApplications() {
  const box = $("#applications-status");
  const list = $("#application-list");
  const applications = await api("/v1/applications?status=submitted");
  list.replaceChildren(...applications.map(applicationCard));
  if (!applications.length) say(box, "No application is waiting for a decision.");
}

function applicationCard(app) {
  const box = $("#applications-status");
  const reason = el("textarea", { name: "reason", rows: 2, maxlength: 4000, required: true });
  const days = el("input", { name: "days", type: "number", min: 1, max: 730, value: 90 });
  const quota = el("input", { name: "quota", type: "number", min: 1, max: 86400, value: 600 });
  const card = el("article", { class: "review-card", "aria-labelledby": `app-${app.id}` });
  const decide = (action) => async (event) => {
    const text = needReason(reason, box);
    if (!text) return;
    await act(event.currentTarget, box, async () => {
      const body = action === "approve"
        ? { reason: text, expires_in_days: Number(days.value), daily_quota_s: Number(quota.value) }
        : { reason: text };
      const view = await api(`/v1/applications/${app.id}/${action}`, { method: "POST", body });
      const outcome = view.status === "approved"
        ? `Approved ${view.name} (${view.email}): access until ${day(view.expires_at)}, ${view.daily_quota_s} s a day.`
        : `Denied ${view.name} (${view.email}): ${view.decision_reason}`;
      card.replaceChildren(el("h3", { id: `app-${app.id}` }, app.name, " ", badge(statusKind(view.status), view.status)),
        el("p", {}, outcome));
      loadResearchers().catch((error) => say($("#researchers-status"), error, "error"));
      return outcome;
    });
  };
  card.append(
    el("h3", { id: `app-${app.id}` }, `${app.name} — ${app.institution}`),
    el("dl", {},
      el("dt", {}, "Email"), el("dd", {}, app.email),
      el("dt", {}, "Position"), el("dd", {}, app.position),
      el("dt", {}, "Purpose"), el("dd", {}, app.research_purpose),
      el("dt", {}, "Ethics reference"), el("dd", {}, app.ethics_reference),
      el("dt", {}, "Uses"), el("dd", {}, app.intended_uses.join(" and ")),
      el("dt", {}, "Applied"), el("dd", {}, formatTime(app.submitted_at))),
    el("div", { class: "review-decision" },
      field("Reason for the decision", reason),
      field("Access for (days)", days),
      field("Daily quota (seconds)", quota)),
    el("div", { class: "actions" },
      el("button", { type: "button", onclick: decide("approve") }, "Approve"),
      el("button", { type: "button", class: "danger", onclick: decide("deny") }, "Deny")));
  return card;
}

// -- 2. researchers ---------------------------------------------------------------------------

async function loadResearchers() {
  const researchers = await api("/v1/researchers");
  fill($("#researcher-rows"), researchers.map(researcherRow), "No researcher has access yet.");
}

function researcherRow(r) {
  const box = $("#researchers-status");
  const reason = el("input", { name: "reason", maxlength: 4000 });
  const quota = el("input", { name: "quota", type: "number", min: 1, max: 86400, value: r.daily_quota_s ?? "" });
  const suspended = r.status === "suspended";
  const setQuota = (event) => {
    const text = needReason(reason, box);
    if (!text) return;
    return act(event.currentTarget, box, async () => {
      const view = await api(`/v1/researchers/${r.account_id}/quota`, {
        method: "POST", body: { daily_quota_s: Number(quota.value), reason: text },
      });
      await loadResearchers();
      return `${view.name}'s daily quota is now ${view.daily_quota_s} s.`;
    });
  };
  const standing = (event) => {
    const text = needReason(reason, box);
    if (!text) return;
    const action = suspended ? "reinstate" : "suspend";
    return act(event.currentTarget, box, async () => {
      const view = await api(`/v1/applications/${r.application_id}/${action}`, { method: "POST", body: { reason: text } });
      await loadResearchers();
      return view.status === "suspended"
        ? `Suspended ${view.name}: their tokens and sessions stopped.`
        : `Reinstated ${view.name}.`;
    });
  };
  const used = r.daily_quota_s ? Math.min(1, r.used_today_s / r.daily_quota_s) : 0;
  return el("tr", { dataset: { account: r.account_id } },
    cell("Researcher", el("strong", {}, r.name), el("br"), r.email, el("br"),
      el("span", { class: "muted" }, r.institution), el("br"), el("code", {}, r.account_id)),
    cell("Access", badge(statusKind(r.status), r.status), " ",
      r.disabled ? [badge("bad", "account disabled"), " "] : null, r.standing,
      el("br"), `until ${day(r.expires_at)}`, el("br"),
      el("span", { class: "muted" }, r.scopes.length ? r.scopes.join(", ") : "no scopes")),
    el("td", { "data-label": "Quota today" },
      r.daily_quota_s === null ? "no quota" : `${r.used_today_s.toFixed(1)} s of ${r.daily_quota_s} s used`,
      el("progress", { max: 1, value: used, "aria-label": `${r.name}: share of today's quota used` })),
    el("td", { "data-label": "Actions", class: "review-row-actions" },
      field(`Reason (${r.name})`, reason),
      field(`Daily quota in seconds (${r.name})`, quota),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "secondary", onclick: setQuota }, "Set quota"),
        el("button", { type: "button", class: suspended ? "" : "danger", onclick: standing }, suspended ? "Reinstate" : "Suspend"),
        el("button", { type: "button", class: "secondary", onclick: () => showTrail(r.account_id) }, "Audit trail"))));
}

// -- 3. identities and consent records ----------------------------------------------------------

async function loadIdentities() {
  const status = $("#identity-status-filter").value;
  const identities = await api(`/v1/consent/review/identities${status ? `?status=${status}` : ""}`);
  fill($("#identity-rows"), identities.map(identityRow), "No identity matches.");
  say($("#identities-status"), identities.length ? plural(identities.length, "identity", "identities") : "No identity matches.");
}

function identityRow(identity) {
  const box = $("#identities-status");
  const reason = el("input", { name: "reason", maxlength: 2000 });
  const live = ["consented", "approved", "awaiting_consent", "pending_review"].includes(identity.status);
  const decide = (path, verb) => (event) => {
    const text = needReason(reason, box);
    if (!text) return;
    return act(event.currentTarget, box, async () => {
      const view = await api(`/v1/consent/review/identities/${identity.id}/${path}`, { method: "POST", body: { reason: text } });
      await loadIdentities();
      return `${verb} ${view.display_name}: ${words(view.status)}.`;
    });
  };
  const buttons = [el("button", { type: "button", class: "secondary", onclick: () => showIdentity(identity) }, "Details")];
  if (identity.status === "pending_review") {
    buttons.push(el("button", { type: "button", onclick: decide("approve", "Approved") }, "Approve"),
      el("button", { type: "button", class: "danger", onclick: decide("reject", "Rejected") }, "Reject"));
  }
  if (live) buttons.push(el("button", { type: "button", class: "danger", onclick: decide("revoke", "Revoked") }, "Revoke"));
  return el("tr", { dataset: { identity: identity.id } },
    cell("Identity", el("strong", {}, identity.display_name), ` (${identity.kind})`, el("br"),
      el("code", {}, identity.id), el("br"), el("span", { class: "muted" }, `researcher ${identity.owner}`)),
    cell("Status", badge(statusKind(identity.status), words(identity.status))),
    cell("Consent", identity.allowed_uses.length ? identity.allowed_uses.join(" and ") : "no uses",
      el("br"), `until ${day(identity.expires_at)}`),
    el("td", { "data-label": "Actions", class: "review-row-actions" },
      live ? field(`Reason (${identity.display_name})`, reason) : null,
      el("div", { class: "actions" }, buttons)));
}

/** The record and its history: who enrolled, who consented and when, reviews, revocation. */
async function showIdentity(identity) {
  const panel = $("#identity-details");
  const trail = el("ol", { class: "review-trail" }, el("li", {}, "Loading the audit trail…"));
  panel.replaceChildren(
    el("h3", {}, `${identity.display_name}: the record`),
    el("dl", {},
      el("dt", {}, "Identity"), el("dd", {}, el("code", {}, identity.id)),
      el("dt", {}, "Kind"), el("dd", {}, identity.origin ? `${identity.kind} (${identity.origin})` : identity.kind),
      el("dt", {}, "Status"), el("dd", {}, words(identity.status)),
      el("dt", {}, "Enrolled by"), el("dd", {}, identity.owner),
      el("dt", {}, "Enrolled"), el("dd", {}, formatTime(identity.created_at)),
      el("dt", {}, "Consent given"), el("dd", { id: "identity-consented" }, "…"),
      el("dt", {}, "Uses consented to"), el("dd", {}, identity.allowed_uses.join(" and ") || "none"),
      el("dt", {}, "Excluded content"), el("dd", {}, identity.excluded_content || "none"),
      el("dt", {}, "Consent expires"), el("dd", {}, formatTime(identity.expires_at)),
      el("dt", {}, "Reference photos"), el("dd", {}, `${identity.photos} (not shown: biometric data)`)),
    el("h4", {}, "What the audit log holds about it"),
    trail,
    el("button", { type: "button", class: "secondary", onclick: () => showTrail(identity.id) }, "Open in the audit log"));
  panel.hidden = false;
  panel.focus();
  try {
    const page = await api(`/v1/audit/entries?about=${encodeURIComponent(identity.id)}&limit=50`);
    trail.replaceChildren(...page.entries.map(({ entry }) => el("li", {},
      `${formatTime(entry.timestamp)}: ${entry.action} by ${entry.actor} (${entry.outcome})`,
      entry.reasons.length ? ` — ${entry.reasons.join("; ")}` : "")));
    if (!page.entries.length) trail.replaceChildren(el("li", {}, "Nothing yet."));
    const accepted = page.entries.find(({ entry }) => entry.action === "consent:consent:accept");
    $("#identity-consented").textContent = accepted
      ? `${formatTime(accepted.entry.timestamp)}, by the ${accepted.entry.actor} in person (audit entry ${accepted.entry.index})`
      : identity.kind === "person" ? "not yet" : "not needed: a synthetic character is approved by a reviewer";
  } catch (error) {
    trail.replaceChildren(el("li", { class: "error" }, `The audit trail could not be read: ${error.message}`));
  }
}

// -- 4. protected people ----------------------------------------------------------------------

async function loadProtected() {
  const people = await api("/v1/consent/protected");
  fill($("#protected-rows"), people.map((person) => el("tr", {},
    cell("Name", person.name),
    cell("Reason", person.reason),
    cell("Added", `${formatTime(person.created_at)} by ${person.created_by}`))),
  "Nobody is protected yet.");
}

function wireProtectForm() {
  const form = $("#protect-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("#protected-status");
    await act(form.querySelector("button"), box, async () => {
      const view = await api("/v1/consent/protected", { method: "POST", body: new FormData(form) });
      form.reset();
      await loadProtected();
      return `${view.name} is protected: no one may enroll or animate their face.`;
    });
  });
}

// -- 5. live sessions and offline jobs -----------------------------------------------------------

const PAGE = 50;
/* The two lists page on their own: the API returns at most PAGE rows, newest first, and
 * ``before=<the last id shown>`` gives the next older page. */
const activity = {
  sessions: { path: "/v1/sessions", rows: "#session-rows", older: "#sessions-older", row: (s) => sessionRow(s), none: "No live session matches.", query: "", last: null, shown: 0 },
  jobs: { path: "/v1/generations", rows: "#job-rows", older: "#jobs-older", row: (j) => jobRow(j), none: "No offline job matches.", query: "", last: null, shown: 0 },
};

async function loadList(list, fresh) {
  const query = new URLSearchParams(list.query);
  query.set("limit", String(PAGE));
  if (!fresh && list.last) query.set("before", list.last);
  const items = await api(`${list.path}?${query}`);
  if (fresh) {
    list.shown = 0;
    fill($(list.rows), items.map(list.row), list.none);
  } else {
    $(list.rows).append(...items.map(list.row));
  }
  list.shown += items.length;
  if (items.length) list.last = items[items.length - 1].id;
  $(list.older).hidden = items.length < PAGE;
}

function sayActivity() {
  const more = (list) => ($(list.older).hidden ? "" : " so far");
  const { sessions, jobs } = activity;
  say($("#activity-status"), `${plural(sessions.shown, "live session", "live sessions").slice(0, -1)}${more(sessions)}, `
    + `${plural(jobs.shown, "offline job", "offline jobs").slice(0, -1)}${more(jobs)}.`);
}

async function loadActivity() {
  const form = $("#activity-filter");
  const owner = form.elements.owner.value.trim();
  const sessionQuery = new URLSearchParams();
  const jobQuery = new URLSearchParams();
  if (owner) {
    sessionQuery.set("owner", owner);
    jobQuery.set("owner", owner);
  }
  if (form.elements.session_status.value) sessionQuery.set("status", form.elements.session_status.value);
  activity.sessions.query = sessionQuery.toString();
  activity.jobs.query = jobQuery.toString();
  await Promise.all([loadList(activity.sessions, true), loadList(activity.jobs, true)]);
  sayActivity();
}

async function loadOlder(list) {
  await loadList(list, false);
  sayActivity();
}

function who(item) {
  return [el("code", {}, item.id), el("br"), el("span", { class: "muted" }, `researcher ${item.owner}`), el("br"),
    el("span", { class: "muted" }, `identity ${item.identity_id}`)];
}

function sessionRow(session) {
  const box = $("#activity-status");
  const reason = el("input", { name: "reason", maxlength: 2000, "aria-label": `Reason to revoke session ${session.id}`, placeholder: "Reason" });
  const revoke = (event) => {
    const text = needReason(reason, box);
    if (!text) return;
    act(event.currentTarget, box, async () => {
      await api(`/v1/sessions/${session.id}?${new URLSearchParams({ reason: text })}`, { method: "DELETE" });
      await loadActivity();
      return `Session ${session.id} is revoked: it stops within a second.`;
    });
  };
  const ended = session.ended_at
    ? `ended ${formatTime(session.ended_at)}${session.stop_reason ? ` (${words(session.stop_reason)})` : ""}`
    : "still running";
  const detail = session.stop_detail ? [el("br"), el("span", { class: "muted" }, session.stop_detail)] : [];
  return el("tr", { dataset: { session: session.id } },
    cell("Session", who(session)),
    cell("Status", badge(statusKind(session.status), session.status),
      el("br"), `${session.size}px at ${session.fps} fps, ${session.frames ?? 0} frames`),
    cell("Timing", `opened ${formatTime(session.opened_at)}`, el("br"), ended, ...detail),
    cell("Actions", el("div", { class: "actions" },
      session.status === "open" ? reason : null,
      session.status === "open"
        ? el("button", { type: "button", class: "danger", onclick: revoke, "aria-label": `Revoke session ${session.id}` }, "Revoke")
        : null,
      el("button", { type: "button", class: "secondary", onclick: () => showTrail(session.id, [session.audit_index]), "aria-label": `Audit trail of session ${session.id}` }, "Audit trail"))));
}

function jobRow(job) {
  const progress = job.status === "running" || job.status === "queued"
    ? `${Math.round((job.progress || 0) * 100)} % done`
    : job.error ? `failed: ${job.error}` : `${formatSeconds(job.seconds)} of video`;
  return el("tr", { dataset: { job: job.id } },
    cell("Job", who(job)),
    cell("Status", badge(statusKind(job.status), job.status), el("br"), progress),
    cell("Timing", `asked ${formatTime(job.created_at)}`, el("br"),
      job.finished_at ? `finished ${formatTime(job.finished_at)}` : "not finished"),
    cell("Actions", el("button", {
      type: "button", class: "secondary", onclick: () => showTrail(job.id, [job.audit_index]), "aria-label": `Audit trail of job ${job.id}`,
    }, "Audit trail")));
}

// -- 6. the audit log ----------------------------------------------------------------------------

let search = { about: "", action: "", before: null, also: [] };

/** Search the log for entries about `id` and bring the results into view. `also` are entry
 * numbers that belong to the trail without naming the id: the gate's admission decision is
 * logged before a session or job has an id, and the session or job keeps its number. */
async function showTrail(id, also = []) {
  $("#audit-about").value = id;
  $("#audit-search").elements.action.value = "";
  await runSearch(true, also.filter((index) => Number.isInteger(index)));
  $("#audit").scrollIntoView();
  $("#audit").focus();
}

async function runSearch(fresh, also = []) {
  const form = $("#audit-search");
  const box = $("#audit-status");
  if (fresh) search = { about: form.elements.about.value.trim(), action: form.elements.action.value.trim(), before: null };
  const query = new URLSearchParams({ about: search.about, limit: "25" });
  if (search.action) query.set("action", search.action);
  if (search.before !== null) query.set("before", String(search.before));
  try {
    const page = await api(`/v1/audit/entries?${query}`);
    const found = new Set(page.entries.map((stored) => stored.entry.index));
    const extra = await Promise.all(also.filter((index) => !found.has(index)).map((index) => api(`/v1/audit/entries/${index}`)));
    const entries = [...page.entries, ...extra].sort((a, b) => b.entry.index - a.entry.index);
    const rows = entries.map(entryRow);
    if (fresh) $("#audit-rows").replaceChildren(...rows);
    else $("#audit-rows").append(...rows);
    search.before = page.next_before;
    $("#audit-older").hidden = page.next_before === null;
    const count = $("#audit-rows").children.length;
    say(box, count ? `${count} entries about ${search.about}${page.next_before === null ? "" : " so far"}.` : `The log holds nothing about ${search.about}.`);
  } catch (error) {
    say(box, `The search failed: ${error.message}`, "error");
  }
}

function entryRow(stored) {
  const { entry } = stored;
  const about = Object.entries(entry.objects).map(([kind, id]) => `${kind} ${id}`).join(", ");
  return el("tr", { dataset: { index: entry.index } },
    cell("#", String(entry.index)),
    cell("When", formatTime(entry.timestamp)),
    cell("What", entry.action, " ", badge(outcomeKind(entry.outcome), entry.outcome), el("br"), `by ${entry.actor}`),
    cell("About", about || "—", entry.reasons.length ? el("div", { class: "muted" }, entry.reasons.join("; ")) : null),
    el("td", {}, el("button", {
      type: "button", class: "secondary", onclick: () => showEntry(stored), "aria-label": `Open entry ${entry.index}`,
    }, "Open")));
}

let shown = null;

function showEntry(stored) {
  shown = stored;
  const { entry } = stored;
  $("#audit-entry-heading").textContent = `Entry ${entry.index}: ${entry.action}`;
  const facts = [
    ["When", formatTime(entry.timestamp)],
    ["Who", entry.actor],
    ["Outcome", entry.outcome],
    ["About", Object.entries(entry.objects).map(([kind, id]) => `${kind} ${id}`).join(", ") || "—"],
    ["Reasons", entry.reasons.join("; ") || "—"],
    ["Leaf hash", stored.leaf_hash],
  ];
  $("#audit-entry-facts").replaceChildren(...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
  $("#audit-entry-body").textContent = JSON.stringify(JSON.parse(stored.body), null, 2);
  $("#inclusion-result").replaceChildren();
  delete $("#inclusion-result").dataset.kind;
  $("#inclusion-steps").replaceChildren();
  $("#audit-entry").hidden = false;
  $("#audit-entry").focus();
}

async function lookUp(index) {
  const box = $("#audit-status");
  try {
    showEntry(await api(`/v1/audit/entries/${index}`));
    say(box, `Entry ${index}.`);
  } catch (error) {
    say(box, `No entry ${index}: ${error.message}`, "error");
  }
}

async function publicJson(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
}

/** Fetch the signed checkpoint, the published keys and a proof at the checkpoint's size, and
 * check them here; say "Included in the log and signed" or which step failed. */
async function checkShown(event) {
  const result = $("#inclusion-result");
  const steps = $("#inclusion-steps");
  const index = shown.entry.index;
  steps.replaceChildren();
  await act(event.currentTarget, result, async () => {
    say(result, "Checking…");
    const [checkpoint, keys] = await Promise.all([publicJson("/v1/audit/checkpoint"), publicJson("/v1/audit/keys")]);
    if (index >= checkpoint.tree_size) {
      say(result, `Not yet signed: the latest checkpoint (${formatTime(checkpoint.timestamp)}) covers entries 0 to ${checkpoint.tree_size - 1}; entry ${index} is newer. Try again in a little while.`, "warn");
      return null;
    }
    const proof = await publicJson(`/v1/audit/proofs/inclusion?index=${index}&tree_size=${checkpoint.tree_size}`);
    try {
      const passed = await checkInclusion({ body: shown.body, index, proof, note: checkpoint.note, keys });
      steps.replaceChildren(...passed.map((step) => el("li", {}, "✓ ", step.detail)));
      say(result, `Included in the log and signed: entry ${index} is in the log of ${checkpoint.tree_size} entries that ${checkpoint.origin} signed at ${formatTime(checkpoint.timestamp)}.`, "ok");
    } catch (error) {
      if (!(error instanceof CheckFailed)) throw error;
      say(result, `Not verified: ${STEP_NAMES[error.step] || error.step} failed — ${error.message}.`, "error");
      result.dataset.step = error.step;
    }
    return null;
  });
}

function wireAudit() {
  $("#audit-search").addEventListener("submit", (event) => {
    event.preventDefault();
    runSearch(true);
  });
  $("#audit-lookup").addEventListener("submit", (event) => {
    event.preventDefault();
    lookUp(Number($("#audit-index").value));
  });
  $("#audit-older").addEventListener("click", () => runSearch(false));
  $("#check-inclusion").addEventListener("click", checkShown);
}

// -- start ----------------------------------------------------------------------------------------

async function load(loader, box) {
  try {
    await loader();
  } catch (error) {
    say($(box), `Could not load this section: ${error.message}`, "error");
  }
}

async function main() {
  const user = await startPage({ roles: ["reviewer", "admin"] });
  if (!user) return;
  $("#identity-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    load(loadIdentities, "#identities-status");
  });
  $("#activity-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    load(loadActivity, "#activity-status");
  });
  $("#sessions-older").addEventListener("click", () => load(() => loadOlder(activity.sessions), "#activity-status"));
  $("#jobs-older").addEventListener("click", () => load(() => loadOlder(activity.jobs), "#activity-status"));
  wireProtectForm();
  wireAudit();
  await Promise.all([
    load(loadApplications, "#applications-status"),
    load(loadResearchers, "#researchers-status"),
    load(loadIdentities, "#identities-status"),
    load(loadProtected, "#protected-status"),
    load(loadActivity, "#activity-status"),
  ]);
  document.body.dataset.ready = "review";
}

main();
