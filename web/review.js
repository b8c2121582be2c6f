// The reviewer console: consent captures to watch and decide on, reported invitations,
// applications, researchers, identities and consent, protected people, live sessions and
// offline jobs, and the audit log with an inclusion check done in the browser.

import { ApiError, api, authorizedFetch, problemOf } from "/lib/api.js";
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
  if (["approved", "consented", "open", "succeeded", "running", "pass"].includes(status)) return "ok";
  if (["suspended", "revoked", "rejected", "failed", "denied", "refused", "fail", "expired"].includes(status)) return "bad";
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

// -- 0. consent captures ------------------------------------------------------------------------

// What each check looked at, for a reviewer (the codes are lpm_guard/consent/captures.py's).
const CHECK_NAMES = {
  "unreadable-media": "the recording could be read",
  "too-early": "not sent before the script could be followed",
  "too-late": "sent before the deadline",
  "too-short": "covers every prompt",
  "one-face": "one face throughout",
  "same-person": "the same person in every sampled frame",
  "head-turns": "head turns in the script's order and windows",
  blinks: "blinks when asked",
  "three-d": "three-dimensional motion (not a flat photo or screen)",
  "lip-sync": "lips move with the spoken words",
  digits: "the digits were spoken",
  statement: "the statement was spoken",
  watermarked: "no lpm-guard watermark",
  copy: "not a copy of an enrolled photo or an earlier capture",
  "face-match": "matches every photo the researcher enrolled",
  "protected-identity": "nobody protected",
  rendered: "camera noise present (not rendered)",
};

const PROMPT_NAMES = {
  look: "look at the camera",
  "turn-left": "turn the head to their left",
  "turn-right": "turn the head to their right",
  "look-up": "look up",
  blink: "blink twice",
  digits: "read the digits",
  statement: "read the statement",
};

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min`;
  if (seconds < 86400 * 2) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

function number(value) {
  return value === null || value === undefined ? "—" : String(Math.round(value * 1000) / 1000);
}

let captureShown = null; // { id, url } of the capture in the detail view

async function loadCaptures() {
  const status = $("#capture-status-filter").value;
  const items = await api(`/v1/consent/review/captures?status=${encodeURIComponent(status)}`);
  fill($("#capture-rows"), items.map(captureRow), status === "awaiting_review"
    ? "No consent is waiting for a decision." : "No capture matches.");
  say($("#captures-status"), items.length
    ? `${plural(items.length, "capture", "captures")}${status === "awaiting_review" ? " The oldest has waited " + age(items[0].age_s) + "." : ""}`
    : "No capture matches.");
}

function captureRow(item) {
  const flags = item.flags || [];
  return el("tr", { dataset: { capture: item.capture_id } },
    cell("Person", el("strong", {}, item.display_name), el("br"),
      el("code", {}, item.identity_id), el("br"), el("span", { class: "muted" }, `researcher ${item.researcher}`)),
    cell("Waiting", badge(statusKind(item.status), words(item.status)), el("br"),
      item.submitted_at ? `sent ${formatTime(item.submitted_at)}` : `opened ${formatTime(item.opened_at)}`, el("br"),
      el("span", { class: "capture-age" }, `${age(item.age_s)} ago`)),
    cell("Flags", flags.length
      ? flags.flatMap((flag) => [badge("warn", flag), " "])
      : el("span", { class: "muted" }, "none")),
    cell("Actions", el("button", {
      type: "button", class: "secondary", onclick: () => showCapture(item.capture_id),
      "aria-label": `Watch and decide: ${item.display_name}`,
    }, "Watch and decide")));
}

async function showCapture(captureId) {
  const panel = $("#capture-detail");
  const box = $("#captures-status");
  let detail;
  try {
    detail = await api(`/v1/consent/review/captures/${encodeURIComponent(captureId)}`);
  } catch (error) {
    say(box, `The capture could not be read: ${error.message}`, "error");
    return;
  }
  const summary = detail.summary || detail;
  if (captureShown && captureShown.url) URL.revokeObjectURL(captureShown.url);
  captureShown = { id: captureId, url: null };
  $("#capture-detail-heading").textContent = `${summary.display_name}: the consent capture`;
  const facts = [
    ["Capture", el("code", {}, summary.capture_id || captureId)],
    ["Identity", el("code", {}, summary.identity_id)],
    ["Researcher", summary.researcher],
    ["Status", badge(statusKind(summary.status), words(summary.status))],
    ["Session opened", formatTime(summary.opened_at)],
    ["Recording sent", formatTime(summary.submitted_at)],
    ["Waiting for", age(summary.age_s)],
    ["Flags", (summary.flags || []).join(", ") || "none"],
  ];
  if (detail.video_sha256) facts.push(["Video SHA-256", el("code", {}, detail.video_sha256)]);
  if (detail.reviewed_by) facts.push(["Decided by", `${detail.reviewed_by}: ${detail.review_reason || ""}`]);
  $("#capture-facts").replaceChildren(...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
  const steps = (detail.script && detail.script.steps) || [];
  fill($("#capture-script-rows"), steps.map((step) => el("tr", { dataset: { prompt: step.prompt } },
    cell("From", `${step.start_s.toFixed(1)} s`),
    cell("To", `${step.end_s.toFixed(1)} s`),
    cell("Prompt", PROMPT_NAMES[step.prompt] || step.prompt),
    cell("Text", step.text || "—"))), "No script.");
  fill($("#capture-check-rows"), (detail.checks || []).map((check) => el("tr", { dataset: { check: check.name, outcome: check.outcome } },
    cell("Check", el("strong", {}, check.name), el("br"), el("span", { class: "muted" }, CHECK_NAMES[check.name] || "")),
    cell("Outcome", badge(check.outcome === "pass" ? "ok" : check.outcome === "fail" ? "bad" : "warn", check.outcome)),
    cell("Score", number(check.score)),
    cell("Threshold", number(check.threshold)),
    cell("Detail", check.detail || "—"))), "No check was run.");
  $("#capture-transcript").textContent = detail.transcript || "Nothing recorded.";
  const open = summary.status === "awaiting_review";
  $("#capture-decision").hidden = !open;
  $("#capture-reason").value = "";
  say($("#capture-decision-status"), open ? "" : `This capture is ${words(summary.status)}: no decision to take.`);
  panel.hidden = false;
  panel.focus();
  loadCaptureVideo(captureId);
}

/** The recording, fetched with the reviewer's token (a <video src> could not send it). */
async function loadCaptureVideo(captureId) {
  const video = $("#capture-video");
  const box = $("#capture-video-status");
  video.removeAttribute("src");
  video.hidden = false;
  say(box, "Loading the recording…");
  try {
    const response = await authorizedFetch(`/v1/consent/review/captures/${encodeURIComponent(captureId)}/video`);
    if (!response.ok) throw new ApiError(response.status, await problemOf(response));
    const url = URL.createObjectURL(await response.blob());
    if (!captureShown || captureShown.id !== captureId) {
      URL.revokeObjectURL(url);
      return;
    }
    captureShown.url = url;
    // A browser's recording (MediaRecorder's WebM) states no duration: seek past the end once,
    // so that the player learns it and the reviewer gets a usable timeline.
    video.addEventListener("loadedmetadata", () => {
      if (video.duration !== Infinity) return;
      video.addEventListener("durationchange", () => { video.currentTime = 0; }, { once: true });
      video.currentTime = 1e101;
    }, { once: true });
    video.src = url;
    say(box, "Watch the whole recording before deciding. Every viewing is written to the audit log.");
  } catch (error) {
    video.hidden = true;
    say(box, error.status === 404 ? "No recording is kept for this capture." : `The recording could not be loaded: ${error.message}`,
      error.status === 404 ? "info" : "error");
  }
}

function decideCapture(action) {
  return async (event) => {
    const box = $("#capture-decision-status");
    const text = needReason($("#capture-reason"), box);
    if (!text || !captureShown) return;
    const captureId = captureShown.id;
    await act(event.currentTarget, box, async () => {
      const view = await api(`/v1/consent/review/captures/${encodeURIComponent(captureId)}/${action}`,
        { method: "POST", body: { reason: text } });
      $("#capture-decision").hidden = true;
      await loadCaptures();
      loadIdentities().catch(() => {});
      return action === "approve"
        ? `Approved: ${view.display_name}'s consent is in force (${words(view.status)}).`
        : `Rejected: ${view.display_name}'s consent never came into force; the recording is deleted.`;
    });
  };
}

function wireCaptures() {
  $("#capture-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    load(loadCaptures, "#captures-status");
  });
  $("#capture-approve").addEventListener("click", decideCapture("approve"));
  $("#capture-reject").addEventListener("click", decideCapture("reject"));
}

// -- 0b. generations the policy held for review ------------------------------------------------

let heldShown = null; // { id, url } of the held generation in the detail view

async function loadHeld() {
  const status = $("#held-status-filter").value;
  const items = await api(`/v1/review/generations?status=${encodeURIComponent(status)}`);
  fill($("#held-rows"), items.map(heldRow), status === "pending"
    ? "No generation is waiting for a decision." : "No held generation matches.");
  say($("#held-status"), items.length
    ? `${plural(items.length, "held generation", "held generations")}${status === "pending" ? " The oldest has waited " + age(items[0].age_s) + "." : ""}`
    : "No held generation matches.");
}

/** The checks that held the request (anything but allow), as "category (layer score)". */
function heldBy(item) {
  return (item.evidence.checks || []).filter((check) => check.action !== "allow");
}

function layerText(check) {
  const score = check.score === null || check.score === undefined ? "" : ` ${number(check.score)}`;
  return `${check.layer || "—"}${score}`;
}

function heldRow(item) {
  return el("tr", { dataset: { review: item.id } },
    cell("Request", el("code", {}, item.job_id), el("br"),
      el("span", { class: "muted" }, `researcher ${item.owner}`), el("br"),
      el("span", { class: "muted" }, `identity ${item.identity_id}`)),
    cell("Waiting", badge(statusKind(item.status), words(item.status)), el("br"),
      `held ${formatTime(item.created_at)}`, el("br"), el("span", {}, `${age(item.age_s)}${item.status === "pending" ? " ago" : " to decide"}`)),
    cell("Why it was held", ...heldBy(item).flatMap((check) => [
      badge("warn", check.categories.map(words).join(", ") || check.action), " ",
      `${check.input}: ${layerText(check)}`, el("br")])),
    cell("Actions", el("button", {
      type: "button", class: "secondary", onclick: () => showHeld(item.id),
      "aria-label": `Read and decide: job ${item.job_id}`,
    }, "Read and decide")));
}

async function showHeld(reviewId) {
  const panel = $("#held-detail");
  let item;
  try {
    item = await api(`/v1/review/generations/${encodeURIComponent(reviewId)}`);
  } catch (error) {
    say($("#held-status"), `The held generation could not be read: ${error.message}`, "error");
    return;
  }
  if (heldShown && heldShown.url) URL.revokeObjectURL(heldShown.url);
  heldShown = { id: reviewId, url: null };
  const evidence = item.evidence;
  $("#held-detail-heading").textContent = `Held generation ${item.job_id}`;
  const facts = [
    ["Review", el("code", {}, item.id)],
    ["Researcher", item.owner],
    ["Identity", el("code", {}, item.identity_id)],
    ["Status", badge(statusKind(item.status), words(item.status))],
    ["Held", `${formatTime(item.created_at)} (audit entry ${item.request_entry})`],
    ["Length", formatSeconds(evidence.seconds)],
    ["Reference images", String(evidence.references)],
    ["Why", item.reasons.join("; ")],
  ];
  if (item.decided_by) facts.push(["Decided by", `${item.decided_by} ${formatTime(item.decided_at)}: ${item.decision_reason || ""}`]);
  $("#held-facts").replaceChildren(...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
  $("#held-instructions").textContent = evidence.instructions || "No instructions were given.";
  const transcripts = evidence.transcripts || [];
  $("#held-transcripts").replaceChildren(...(transcripts.length
    ? transcripts.flatMap((t) => [el("dt", {}, t.input), el("dd", {}, t.text || "(no words recognised)")])
    : [el("dd", {}, "No audio.")]));
  fill($("#held-check-rows"), (evidence.checks || []).map((check) => el("tr", { dataset: { input: check.input, action: check.action } },
    cell("Input", el("strong", {}, check.input)),
    cell("Decision", badge(check.action === "allow" ? "ok" : check.action === "deny" ? "bad" : "warn", check.action)),
    cell("Categories and rules", check.categories.map(words).join(", ") || "—", el("br"),
      el("span", { class: "muted" }, check.rule_ids.join(", "))),
    cell("Layer and score", layerText(check)),
    cell("Reason", check.reason))), "No check was run.");
  const open = item.status === "pending";
  $("#held-decision").hidden = !open;
  $("#held-reason").value = "";
  say($("#held-decision-status"), open ? "" : `This generation was ${words(item.status)}: no decision to take.`);
  $("#held-audio").removeAttribute("src");
  $("#held-audio").hidden = true;
  $("#held-listen").hidden = !open;
  say($("#held-audio-status"), open ? "Each listening is written to the audit log." : "");
  panel.hidden = false;
  panel.focus();
}

/** The speech, fetched with the reviewer's token when the reviewer asks for it. */
async function loadHeldAudio() {
  const audio = $("#held-audio");
  if (!heldShown || heldShown.url) return;
  const reviewId = heldShown.id;
  const box = $("#held-audio-status");
  say(box, "Loading the speech…");
  try {
    const response = await authorizedFetch(`/v1/review/generations/${encodeURIComponent(reviewId)}/audio`);
    if (!response.ok) throw new ApiError(response.status, await problemOf(response));
    const url = URL.createObjectURL(await response.blob());
    if (!heldShown || heldShown.id !== reviewId) {
      URL.revokeObjectURL(url);
      return;
    }
    heldShown.url = url;
    audio.src = url;
    audio.hidden = false;
    audio.play().catch(() => {});
    say(box, "Listening is written to the audit log.");
  } catch (error) {
    say(box, `The speech could not be loaded: ${error.message}`, "error");
  }
}

function decideHeld(action) {
  return async (event) => {
    const box = $("#held-decision-status");
    const text = needReason($("#held-reason"), box);
    if (!text || !heldShown) return;
    const reviewId = heldShown.id;
    await act(event.currentTarget, box, async () => {
      const outcome = await api(`/v1/review/generations/${encodeURIComponent(reviewId)}/${action}`,
        { method: "POST", body: { reason: text } });
      $("#held-decision").hidden = true;
      await loadHeld();
      loadActivity().catch(() => {});
      const job = outcome.job;
      if (action === "deny") return `Denied: job ${job.id} will not be made; the researcher's seconds are refunded.`;
      if (job.status === "failed") throw new Error(`approved, but the gate refused it now: ${job.error}`);
      return `Approved: job ${job.id} passed the gate again and is ${words(job.status)}.`;
    });
  };
}

function wireHeld() {
  $("#held-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    load(loadHeld, "#held-status");
  });
  $("#held-listen").addEventListener("click", loadHeldAudio);
  $("#held-approve").addEventListener("click", decideHeld("approve"));
  $("#held-deny").addEventListener("click", decideHeld("deny"));
}

// -- 0c. live instructions the policy held for review -------------------------------------------

async function loadHeldLive() {
  const status = $("#held-live-status-filter").value;
  const items = await api(`/v1/review/instructions?status=${encodeURIComponent(status)}`);
  fill($("#held-live-rows"), items.map(heldLiveRow), status === "pending"
    ? "No live instruction is waiting for a decision." : "No held live instruction matches.");
  say($("#held-live-status"), items.length
    ? `${plural(items.length, "held live instruction", "held live instructions")}${status === "pending" ? " The oldest has waited " + age(items[0].age_s) + "." : ""}`
    : "No held live instruction matches.");
}

function heldLiveRow(item) {
  const open = item.status === "pending";
  const box = el("p", { role: "status", class: "muted" });
  const reason = el("textarea", { rows: 2, maxlength: 2000, "aria-label": `Reason for the decision on ${item.id} (goes into the audit log)` });
  const decide = (action) => async (event) => {
    const text = needReason(reason, box);
    if (!text) return;
    await act(event.currentTarget, box, async () => {
      const decided = await api(`/v1/review/instructions/${encodeURIComponent(item.id)}/${action}`,
        { method: "POST", body: { reason: text } });
      await loadHeldLive();
      say($("#held-live-status"), decided.status === "approved"
        ? `Approved: session ${decided.session_id} applies the instructions now.`
        : `Denied: the researcher of session ${decided.session_id} is told why.`, "ok");
      return "";
    });
  };
  const decision = open
    ? [field("Why (goes into the audit log)", reason),
      el("div", { class: "actions" },
        el("button", { type: "button", onclick: decide("approve"), "aria-label": `Approve the instructions ${item.id}` }, "Approve"),
        el("button", { type: "button", class: "danger", onclick: decide("deny"), "aria-label": `Deny the instructions ${item.id}` }, "Deny")),
      box]
    : [badge(statusKind(item.status), words(item.status)), el("br"),
      item.decided_by ? `${item.decided_by} ${formatTime(item.decided_at)}: ${item.decision_reason || ""}` : "",
      item.status === "approved" ? [el("br"), item.delivered_at
        ? `applied to the session ${formatTime(item.delivered_at)}` : "not applied (yet): the session had not taken it"] : null];
  return el("tr", { dataset: { review: item.id, status: item.status } },
    cell("Session", el("code", {}, item.session_id), el("br"),
      el("span", { class: "muted" }, `researcher ${item.owner}`), el("br"),
      el("span", { class: "muted" }, `identity ${item.identity_id}`)),
    cell("Waiting", badge(statusKind(item.status), words(item.status)), el("br"),
      `held ${formatTime(item.created_at)}`, el("br"), el("span", {}, `${age(item.age_s)}${open ? " ago" : " to decide"}`)),
    cell("The instructions, as written", el("blockquote", {}, item.instructions)),
    cell("Why they were held", badge("warn", item.categories.map(words).join(", ") || "review"), " ",
      layerText(item), el("br"), el("span", { class: "muted" }, item.rule_ids.join(", ")), el("br"), item.reason),
    cell("Decision", ...decision));
}

function wireHeldLive() {
  $("#held-live-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    load(loadHeldLive, "#held-live-status");
  });
}

/** Reported invitations, where the server offers the list (a 404 hides the section). */
async function loadReports() {
  let reports;
  try {
    reports = await api("/v1/consent/review/reports");
  } catch (error) {
    if (error.status === 404 || error.status === 405) return;
    throw error;
  }
  $("#reports").hidden = false;
  fill($("#report-rows"), reports.map((report) => el("tr", { dataset: { invitation: report.invitation_id } },
    cell("Person", el("strong", {}, report.display_name), ` (${words(report.identity_status)})`, el("br"),
      el("code", {}, report.identity_id)),
    cell("Researcher", report.researcher_name, el("br"), el("span", { class: "muted" }, report.researcher)),
    cell("Asked for", (report.allowed_uses || []).join(" and ") || "—",
      report.excluded_content ? [el("br"), el("span", { class: "muted" }, `never: ${report.excluded_content}`)] : null),
    cell("When", `invited ${formatTime(report.invited_at)}`, el("br"), `refused ${formatTime(report.refused_at)}`))),
  "No invitation was reported.");
  say($("#reports-status"), reports.length ? plural(reports.length, "report", "reports") : "");
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
  const live = ["consented", "approved", "awaiting_consent", "awaiting_review", "pending_review"].includes(identity.status);
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
    const find = (action) => page.entries.find(({ entry }) => entry.action === action);
    const accepted = find("consent:consent:accept");
    const approved = find("consent:consent:approve");
    $("#identity-consented").textContent = accepted
      ? `${formatTime(accepted.entry.timestamp)}, recorded live by the ${accepted.entry.actor} in person (audit entry ${accepted.entry.index})`
        + (approved
          ? `; approved by ${approved.entry.actor} on ${formatTime(approved.entry.timestamp)} (audit entry ${approved.entry.index})`
          : "; not yet approved by a reviewer")
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
  const progress = job.status === "awaiting_review" ? `awaiting review: ${job.review}`
    : job.status === "running" || job.status === "queued"
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
  wireCaptures();
  wireHeld();
  wireHeldLive();
  await Promise.all([
    load(loadCaptures, "#captures-status"),
    load(loadHeld, "#held-status"),
    load(loadHeldLive, "#held-live-status"),
    load(loadReports, "#reports-status"),
    load(loadApplications, "#applications-status"),
    load(loadResearchers, "#researchers-status"),
    load(loadIdentities, "#identities-status"),
    load(loadProtected, "#protected-status"),
    load(loadActivity, "#activity-status"),
  ]);
  document.body.dataset.ready = "review";
}

main();
