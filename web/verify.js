// The public verify page: a clip goes to POST /v1/verify as the raw request body (docs/verify.md);
// the report comes back in words a journalist can use, with the raw JSON one click away.
import { problemOf } from "./lib/api.js";
import { $, el, formatSeconds, formatTime, say, startPage } from "./lib/page.js";

// The verdict line, by report.verdict.
const VERDICTS = {
  authentic: {
    badge: ["ok", "Made with lpm-guard, unaltered"],
    text: (r) => `This clip was made with lpm-guard and has not been changed since it was signed: its Content Credentials are intact and signed by ${r.c2pa.signer || "us"}${r.watermark.status === "present" ? ", and our invisible watermark is in the picture" : ""}.`,
  },
  traced: {
    badge: ["warn", "Made with lpm-guard, credentials missing"],
    text: (r) => `This clip was made with lpm-guard, but it no longer carries its Content Credentials (a platform that re-encodes a video usually strips them). Our invisible watermark is still in the picture and traces it to entry ${r.audit ? r.audit.index : "?"} of our audit log.`,
  },
  tampered: {
    badge: ["bad", "Altered or forged"],
    text: () => "Something in this clip does not check: it was changed after it was signed, or its credentials or audit record do not hold up (details below). Do not rely on the credentials it carries.",
  },
  unknown: {
    badge: ["", "Nothing of ours found"],
    text: () => "We find no sign that this clip was made with lpm-guard: no Content Credentials of ours and no watermark. That does not make it genuine, nor prove who made it; it only means it did not come from this service, or not recognisably.",
  },
};

const C2PA = {
  trusted: ["ok", "Valid and trusted", (c) => `The clip's Content Credentials are intact and signed under lpm-guard's root certificate${c.signer ? ` (signer: ${c.signer})` : ""}. The picture and sound are exactly what was signed.`],
  untrusted: ["warn", "Intact, signer not ours", (c) => `The Content Credentials match the file, but they were signed by ${c.signer || "someone"} whose certificate does not chain to lpm-guard's root. We cannot vouch for who made it.`],
  expired: ["warn", "Intact, certificate expired", (c) => `The Content Credentials match the file, but the signing certificate has expired and ${c.time_stamp ? "the time-stamp on them comes from an authority we do not trust" : "they carry no time-stamp"}, so nothing shows they were signed while it was valid. This is not a sign of tampering.`],
  tampered: ["bad", "Tampered", (c) => `The file no longer matches its Content Credentials, or they are damaged${c.error ? ` (${c.error})` : ""}. It was changed after signing, or the credentials were forged.`],
  absent: ["", "None", () => "The file carries no Content Credentials (no C2PA manifest). Many platforms strip them when they re-encode a video, so their absence alone proves nothing."],
};

// C2PA validation status codes (C2PA specification, "Validation"), in plain words.
const CODES = {
  "claimSignature.validated": "the signature on the credentials is valid",
  "claimSignature.insideValidity": "it was signed while the signing certificate was valid",
  "claimSignature.mismatch": "the signature does not match the credentials",
  "claimSignature.outsideValidity": "it was signed outside the certificate's validity period",
  "signingCredential.trusted": "the signer's certificate chains to a root we trust",
  "signingCredential.untrusted": "the signer's certificate does not chain to a root we trust",
  "signingCredential.ocsp.skipped": "the certificate's revocation status was not checked online",
  "assertion.hashedURI.match": "every statement inside the credentials is unchanged",
  "assertion.hashedURI.mismatch": "a statement inside the credentials was changed",
  "assertion.dataHash.match": "the file's bytes are exactly those that were signed",
  "assertion.dataHash.mismatch": "the file's bytes changed after signing",
  "assertion.bmffHash.match": "the video and sound are exactly those that were signed",
  "assertion.bmffHash.mismatch": "the video or sound changed after signing",
  "timeStamp.trusted": "the signing time is vouched for by a trusted time-stamp authority",
  "timeStamp.validated": "the signing time stamp is valid",
  "timeStamp.untrusted": "the signing time stamp comes from an authority we do not trust",
  "signingCredential.expired": "the signing certificate has expired (and no trusted time stamp shows it was signed before)",
  "assertion.action.softBindingMissing": "the credentials declare a watermark but not the reference it carries",
  "ingredient.manifest.validated": "the credentials of a source clip (ingredient) are valid",
  "ingredient.claimSignature.validated": "a source clip's signature is valid",
  "ingredient.manifest.mismatch": "a source clip's credentials do not match",
  "manifest.inaccessible": "the credentials could not be read",
  "assertion.bmffHash.additionalExclusionsPresent": "the signer left some parts of the file's structure out of its fingerprint (normal for signed MP4 video)",
};

// FFmpeg's container names, as people know them.
function containerName(name) {
  if (name.includes("mp4") || name.includes("mov")) return "MP4/MOV";
  if (name.includes("matroska")) return "Matroska/WebM";
  return name;
}
const OUTCOMES = { success: "Passed", informational: "For information", failure: "Failed" };

const ACTIONS = {
  "generation:request:allow": "the gate allowed a generation (consent, access and policy checked)",
  "generation:request:deny": "the gate refused a generation",
};

function fact(list, term, ...value) {
  list.append(el("dt", {}, term), el("dd", {}, ...value));
}

function badge(node, [kind, text]) {
  node.className = `badge ${kind}`.trim();
  node.textContent = text;
}

function megabytes(bytes) {
  return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function showFile(report, name) {
  $("#file-name").textContent = name;
  const verdict = VERDICTS[report.verdict] || VERDICTS.unknown;
  badge($("#verdict-badge"), verdict.badge);
  $("#verdict").textContent = verdict.text(report);
  $("#verdict").dataset.verdict = report.verdict;
  const facts = $("#file-facts");
  facts.replaceChildren();
  const file = report.file;
  fact(facts, "File", `${megabytes(file.size_bytes)}, ${containerName(file.container)}, ${file.width} × ${file.height}` +
    (file.duration_s ? `, ${formatSeconds(file.duration_s)}` : ""));
  fact(facts, "SHA-256", el("code", {}, file.sha256));
}

function showC2pa(c2pa) {
  const [kind, title, words] = C2PA[c2pa.status] || C2PA.absent;
  badge($("#c2pa-badge"), [kind, title]);
  $("#c2pa-summary").textContent = words(c2pa);
  const facts = $("#c2pa-facts");
  facts.replaceChildren();
  if (c2pa.signer) fact(facts, "Signed by", c2pa.signer);
  if (c2pa.manifest_id) fact(facts, "Manifest", el("code", {}, c2pa.manifest_id));
  const p = c2pa.provenance;
  if (p) {
    fact(facts, "Made in", `session ${p.session_id}, generator ${p.generator_version}, policy ${p.policy_version}`);
    fact(facts, "Audit receipt", `entry ${p.audit.index} of a log of ${p.audit.tree_size} entries`);
  }
  if (c2pa.segment) {
    fact(facts, "Live segment", `part ${c2pa.segment.sequence_number + 1} of live session ${c2pa.segment.stream_id}`);
  }
  if (c2pa.chain) {
    fact(facts, "Live recording", `${c2pa.chain.segments} segments, chain ${c2pa.chain.status}` +
      (c2pa.chain.problems.length ? `: ${c2pa.chain.problems.join("; ")}` : ""));
  }
  if (c2pa.watermark_reference) fact(facts, "Watermark it declares", el("code", {}, c2pa.watermark_reference));
  if (c2pa.time_stamp) fact(facts, "Time-stamped", `${c2pa.time_stamp.signed_at ? formatTime(c2pa.time_stamp.signed_at) : "?"}, by ${c2pa.time_stamp.trusted ? "a trusted" : "an untrusted"} time-stamp authority`);
  for (const problem of c2pa.problems || []) fact(facts, "Problem", problem);
  const box = $("#c2pa-codes");
  box.replaceChildren();
  const groups = Object.entries(OUTCOMES).filter(([key]) => (c2pa.codes[key] || []).length);
  if (groups.length) {
    box.append(el("h3", {}, "What the checks say"));
    for (const [key, label] of groups) {
      box.append(el("p", { class: key === "failure" ? "error" : "" }, el("strong", {}, `${label}:`)),
        el("ul", { class: "codes" }, counted(c2pa.codes[key]).map(([code, count]) => el("li", {},
          CODES[code] || "a check without a plain description here (see the C2PA specification)",
          count > 1 ? ` (${count} checks)` : "", " ", el("code", {}, code)))));
    }
  }
}

/** Each code once, with how many times it came: [[code, count], ...] in first-seen order. */
function counted(codes) {
  const counts = new Map();
  for (const code of codes) counts.set(code, (counts.get(code) || 0) + 1);
  return [...counts.entries()];
}

function confidenceWords(confidence) {
  if (confidence === null || confidence === undefined) return ["—"];
  const strength = confidence >= 9 ? "very strong" : confidence >= 5 ? "strong" : "weak";
  const power = Math.floor(confidence);
  return [`${strength}: the chance that a clip without our watermark reads like this is about 1 in 10`,
    el("sup", {}, String(power)), power >= 3 ? ` (a 1 followed by ${power} zeros)` : ""];
}

function showWatermark(watermark, c2pa) {
  const facts = $("#watermark-facts");
  facts.replaceChildren();
  if (watermark.status === "present") {
    badge($("#watermark-badge"), ["ok", "Found"]);
    const same = c2pa.watermark_reference
      ? (c2pa.watermark_reference === watermark.reference
        ? " It names the same audit entry as the Content Credentials."
        : " It names a different audit entry from the Content Credentials!")
      : "";
    $("#watermark-summary").textContent = `Our invisible watermark is in the picture: lpm-guard made this video.${same}`;
    fact(facts, "Reference", el("code", {}, watermark.reference), ` (audit entry ${parseInt(watermark.reference, 16)})`);
    if (watermark.method === "traced") {
      fact(facts, "How it was read", `Traced: the picture is too damaged for the watermark's message to be read on its own, so it was compared with each of the ${watermark.candidates} videos our audit log says were made, and this one stood out.`);
    }
    fact(facts, "Confidence", ...confidenceWords(watermark.confidence));
  } else if (watermark.status === "absent") {
    badge($("#watermark-badge"), ["", "Not found"]);
    $("#watermark-summary").textContent = "Our watermark is not in the frames we read. Video we make carries it in every frame, and it survives re-encoding, scaling and cropping.";
  } else {
    badge($("#watermark-badge"), ["warn", "Not checked"]);
    $("#watermark-summary").textContent = `The watermark could not be checked${watermark.error ? `: ${watermark.error}` : ""}.`;
  }
  fact(facts, "Frames read", String(watermark.frames_used));
}

function showAudit(audit) {
  const facts = $("#audit-facts");
  const problems = $("#audit-problems");
  facts.replaceChildren();
  problems.replaceChildren();
  if (!audit) {
    badge($("#audit-badge"), ["", "No entry"]);
    $("#audit-summary").textContent = "Neither credentials nor watermark name an entry of our audit log.";
    return;
  }
  const source = audit.source === "c2pa" ? "the signed receipt in the Content Credentials" : "the watermark's reference";
  const summaries = {
    included: ["ok", "Included", `Entry ${audit.index} is in our public audit log, and we checked it against the log's signed checkpoint: the record of this generation cannot have been changed or removed since.`],
    pending: ["warn", "Not yet sealed", `Entry ${audit.index} is newer than the log's last signed checkpoint; it can be checked after the next one.`],
    not_found: ["bad", "Not in the log", `The clip names entry ${audit.index}, but our audit log has no such entry.`],
    failed: ["bad", "Does not check", `The proof for entry ${audit.index} does not check against the signed log: see the problems below.`],
  };
  const [kind, title, text] = summaries[audit.status] || ["", audit.status, ""];
  badge($("#audit-badge"), [kind, title]);
  $("#audit-summary").textContent = text;
  fact(facts, "Found through", source);
  if (audit.entry) {
    fact(facts, "Entry", `${audit.entry.index}: ${ACTIONS[audit.entry.action] || audit.entry.action} (${audit.entry.outcome}), recorded ${formatTime(audit.entry.timestamp)}`);
  }
  if (audit.checkpoint) {
    fact(facts, "Checked against", `the signed checkpoint of ${audit.checkpoint.tree_size} entries, ${formatTime(audit.checkpoint.timestamp)} (${audit.checkpoint.origin})`);
  }
  if (audit.consistent_with_signing_checkpoint !== null && audit.consistent_with_signing_checkpoint !== undefined) {
    fact(facts, "Since signing", audit.consistent_with_signing_checkpoint
      ? "the log has only grown: nothing recorded before the clip was signed was rewritten"
      : "the log does not extend the checkpoint signed into the clip: it was rewritten");
  }
  for (const problem of audit.problems) problems.append(el("li", {}, problem));
}

function show(report, name) {
  showFile(report, name);
  showC2pa(report.c2pa);
  showWatermark(report.watermark, report.c2pa);
  showAudit(report.audit);
  const notes = $("#notes");
  notes.replaceChildren(...report.notes.map((note) => el("li", {}, note)));
  $("#raw-json").textContent = JSON.stringify(report, null, 2);
  $("#raw").open = false;
  $("#report").hidden = false;
  $("#verdict-heading").focus();
}

// Refusals in plain words, by HTTP status.
function refusal(status, problem, response) {
  const detail = problem.detail || problem.title || "";
  if (status === 413) {
    const limit = problem.limit_bytes ? ` (the limit is ${megabytes(problem.limit_bytes)})` : "";
    return `This file is too large to check here${limit}.`;
  }
  if (status === 415) return `This is not a video we can read: ${detail}.`;
  if (status === 422) return `This video is damaged or cut short, so it cannot be checked: ${detail}.`;
  if (status === 429) {
    const wait = response.headers.get("Retry-After");
    return `Too many checks from your address. Try again${wait ? ` in ${wait} seconds` : " in a minute"}.`;
  }
  return `The check failed (${status}): ${detail}.`;
}

async function verify(file) {
  const status = $("#verify-status");
  const error = $("#verify-error");
  say(error, "");
  $("#report").hidden = true;
  if (!file) return;
  say(status, `Checking ${file.name} (${megabytes(file.size)})… reading the credentials and the watermark takes a few seconds.`);
  document.body.dataset.verifying = "yes";
  let response;
  try {
    response = await fetch("/v1/verify", {
      method: "POST",
      headers: { "Content-Type": file.type && file.type.startsWith("video/") ? file.type : "application/octet-stream" },
      body: file,
    });
  } catch {
    say(status, "");
    say(error, "The server could not be reached. Check your connection and try again.", "error");
    delete document.body.dataset.verifying;
    return;
  }
  delete document.body.dataset.verifying;
  if (!response.ok) {
    say(status, "");
    say(error, refusal(response.status, await problemOf(response), response), "error");
    return;
  }
  say(status, `Checked ${file.name}.`);
  show(await response.json(), file.name);
}

function setUpDropzone() {
  const zone = $("#dropzone");
  const input = $("#clip");
  input.addEventListener("change", () => verify(input.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) verify(file);
  });
}

async function main() {
  await startPage();
  setUpDropzone();
  document.body.dataset.ready = "verify";
}

main();
