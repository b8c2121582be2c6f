// The subject's consent page. An invitation link (#<token>, emailed to the person) shows who
// asks and for what, then either records the consent live or refuses the request; a withdrawal
// link (#revoke=<token>, emailed after the recording) withdraws it.
//
// Recording is live only: the page opens the camera and microphone, opens a capture session on
// the server (which issues a timed script: head turns, a blink, digits, the statement), starts
// one MediaRecorder at once and shows each prompt when the script's clock says, stops at the
// script's end and uploads the video, bound to that session. There is no file upload.
//
// The capability token lives in the URL fragment, which browsers never send to the server; it
// goes to the API in the Consent-Token header only. Subjects have no account: no sign-in here.

import { problemOf } from "./lib/api.js";
import { el } from "./lib/page.js";

const TICK_MS = 100;
// Recorder formats in order of preference (the server reads WebM and MP4).
const FORMATS = [
  "video/webm;codecs=vp8,opus",
  "video/webm;codecs=vp9,opus",
  "video/webm",
  "video/mp4;codecs=avc1,mp4a",
  "video/mp4",
];

const byId = (id) => document.getElementById(id);
const status = byId("status");

/** A failed call to the consent API: the HTTP status and the problem+json body. */
class ConsentProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  get slug() {
    return (this.problem.type || "").split(":").pop().split("/").pop();
  }
}

async function call(path, token, { method = "GET", body, type } = {}) {
  const headers = { "Consent-Token": token };
  let payload = body;
  if (body !== undefined && !(body instanceof Blob)) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  } else if (type) {
    headers["Content-Type"] = type;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new ConsentProblem(0, { type: "offline", detail: "the server could not be reached" });
  }
  if (!response.ok) throw new ConsentProblem(response.status, await problemOf(response));
  return response.json();
}

function announce(message) {
  status.textContent = message;
}

function show(section) {
  section.hidden = false;
  section.focus({ preventScroll: false });
  section.scrollIntoView({ block: "start" });
}

function hide(...ids) {
  for (const id of ids) byId(id).hidden = true;
}

// -- Plain words for what the server says ----------------------------------------------------

const LINK_GONE = {
  used: ["This invitation link was already used: your consent was sent with it before.",
    "Nothing more to do. If you did not send it yourself, tell lpm-guard by refusing the next request or contact the researcher."],
  spent: ["This invitation link was used for too many recordings that were not accepted.",
    "Ask the researcher to send you a new invitation."],
  expired: ["This invitation link has expired.", "Ask the researcher to send you a new invitation."],
  refused: ["You refused this request: this link no longer works.", "Nothing more to do."],
  revoked: ["Consent for this person was withdrawn, so this link no longer works.",
    "If you want to take part again, ask the researcher for a new invitation."],
};

/** [what happened, what to try next] for a problem the link itself has. */
function linkTrouble(problem) {
  if (problem.slug === "link-gone") {
    return LINK_GONE[problem.problem.why] || [problem.message, "Ask the researcher for a new invitation."];
  }
  if (problem.slug === "link-not-found" || problem.status === 401) {
    return ["This link is not one we know.",
      "Open the whole link from the email you were sent; if it still fails, ask the researcher for a new invitation."];
  }
  return null;
}

// Each check the server names when it refuses a recording, in plain words: what was wrong and
// what to do about it. The codes are stable (lpm_guard/consent/captures.py, REASONS).
const CHECKS = {
  "unreadable-media": ["Your recording could not be read.",
    "Try again. If it happens again, use a recent Chrome, Firefox, Safari or Edge."],
  "too-early": ["Your recording ended before all the instructions could have been followed.",
    "Try again, and keep this page open and in front until it says your recording was sent."],
  "too-late": ["Your recording arrived after the time allowed for it.",
    "Try again, and keep this page open until it says your recording was sent."],
  "too-short": ["Your recording stopped before the last instruction.",
    "Try again, and keep this page open and in front for the whole recording."],
  "one-face": ["Only your face must be in view, all the time.",
    "Make sure nobody else is in the picture, and keep your whole face in view from start to end."],
  "same-person": ["The recording must show the same person from start to end.",
    "Stay in front of the camera for the whole recording."],
  "head-turns": ["Your head turns did not follow the instructions.",
    "Turn your head when each instruction appears, to the side it says (your own left or right), then look back at the camera."],
  blinks: ["We did not see you blink when asked.",
    "When the page says “Blink twice”, look at the camera and blink slowly, twice."],
  "three-d": ["The movement did not look like a real head in front of the camera.",
    "Record yourself, live: not a photo or a screen. Light in front of you helps."],
  "lip-sync": ["Your lips did not seem to move with the words we heard.",
    "Face the camera while you read aloud, with light on your face, and speak clearly."],
  digits: ["We did not hear the digits.",
    "When the digits appear, read them aloud, clearly, one by one."],
  statement: ["We did not hear the statement.",
    "When the statement appears, read all of it aloud, clearly, in a quiet place."],
  watermarked: ["Your camera picture looks like a video made by this platform, not a live camera.",
    "Use your own camera, pointed at your face."],
  copy: ["Your recording looks like a copy of a photo or of an earlier recording.",
    "Record yourself, live, with this device's camera."],
  "face-match": ["The face in your recording did not match the photos the researcher has of you.",
    "Make sure it is you, alone, facing the camera in good light. If you are not the person the researcher means, refuse this request."],
  "protected-identity": ["The face in your recording looks like a person who is protected from this platform.",
    "This cannot be solved on this page: please contact the researcher."],
};

/** Each reason a recording was refused, as { reason, next } in plain words. */
function refusalReasons(problem) {
  const slug = problem.slug;
  if (slug === "consent-refused") {
    const codes = problem.problem.checks || [];
    const known = codes.filter((code) => CHECKS[code]).map((code) => ({ code, reason: CHECKS[code][0], next: CHECKS[code][1] }));
    return known.length ? known : [{ code: "other", reason: "Your recording did not pass the checks.", next: "Try again, following each instruction as it appears." }];
  }
  const single = {
    "unreadable-media": CHECKS["unreadable-media"],
    "unsupported-media": ["This browser records video in a format we cannot read.",
      "Use a recent Chrome, Firefox, Safari or Edge."],
    "upload-too-large": ["Your recording is too large to send.",
      "Try again; if it happens again, use another device or browser."],
    "capture-gone": ["This recording session is no longer open (it was already sent, or took too long).",
      "Try again: a new session starts."],
    "capture-not-found": ["This recording session is not one of this invitation's.",
      "Try again: a new session starts."],
    offline: ["The server could not be reached.", "Check your internet connection, then try again."],
  }[slug];
  if (single) return [{ code: slug, reason: single[0], next: single[1] }];
  return [{ code: slug || "other", reason: problem.message, next: "Try again; if it keeps failing, contact the researcher." }];
}

// What each prompt of the script asks, with an arrow as a mirror shows it (the preview is
// mirrored: the subject's own left is on the screen's left).
const PROMPTS = {
  look: ["Look straight at the camera", ""],
  "turn-left": ["Turn your head to your left", "←"],
  "turn-right": ["Turn your head to your right", "→"],
  "look-up": ["Look up", "↑"],
  blink: ["Blink twice", ""],
  digits: ["Read these digits aloud:", ""],
  statement: ["Read this aloud:", ""],
};

function promptWords(step) {
  return (PROMPTS[step.prompt] || [step.prompt])[0];
}

// -- Invitation ------------------------------------------------------------------------------

const USE_WORDS = {
  offline: "video clips of your face, animated by a computer (for example speaking or smiling), made from your photos and recording",
  live: "live video in which your face, animated by a computer, follows another person's expressions in real time",
};

function longDate(iso) {
  return iso ? new Date(iso).toLocaleDateString(undefined, { dateStyle: "long" }) : "—";
}

function showLinkProblem(problem) {
  const [reason, next] = linkTrouble(problem) || [problem.message, "Ask the researcher for a new invitation."];
  byId("link-problem-reason").textContent = reason;
  byId("link-problem-next").textContent = next;
  hide("terms", "choose", "capture", "sending", "refused");
  announce("This link cannot be used.");
  show(byId("link-problem"));
}

function attemptsText(left) {
  if (left === undefined || left === null) return "";
  if (left <= 0) return "No recording attempts are left on this link.";
  return left === 1 ? "This link allows 1 more recording attempt." : `This link allows ${left} more recording attempts.`;
}

async function showInvitation(token) {
  let invitation;
  try {
    invitation = await call("/v1/consent/invitation", token);
  } catch (error) {
    showLinkProblem(error);
    document.body.dataset.ready = "consent";
    return;
  }
  const researcher = invitation.researcher_name || invitation.researcher;
  byId("invited").textContent =
    `${researcher} asks for your consent to make videos of you, enrolled as “${invitation.identity_display_name}”.`;
  byId("fact-who").textContent =
    `${researcher}, a researcher approved by lpm-guard. Every video made carries a hidden watermark and a signed record of how it was made.`;
  byId("fact-what").replaceChildren(el("ul", {},
    invitation.allowed_uses.map((use) => el("li", {}, USE_WORDS[use] || use))));
  byId("fact-excluded").textContent =
    invitation.excluded_content || "Nothing beyond what the platform's content policy already forbids.";
  byId("fact-until").textContent = invitation.consent_expires_at
    ? `${longDate(invitation.consent_expires_at)}, unless you withdraw it before.`
    : "Until you withdraw it.";
  byId("statement").textContent = invitation.statement;
  byId("link-until").textContent = invitation.link_expires_at
    ? `This link works until ${longDate(invitation.link_expires_at)}.`
    : "";
  byId("attempts").textContent = attemptsText(invitation.attempts_left);
  byId("terms").hidden = false;
  byId("choose").hidden = false;
  const flow = new Capture(token, invitation);
  byId("record").addEventListener("click", () => flow.run());
  byId("retry").addEventListener("click", () => flow.run());
  byId("refuse").addEventListener("click", () => refuse(token));
  byId("give-up").addEventListener("click", () => {
    hide("refused");
    byId("terms").hidden = false;
    byId("choose").hidden = false;
    byId("record").disabled = false;
    byId("refuse-box").open = true;
    byId("refuse-box").scrollIntoView({ block: "start" });
    byId("refuse-box").querySelector("summary").focus();
  });
  announce("Read what you are asked to agree to, then record your consent or refuse.");
  document.body.dataset.ready = "consent";
}

async function refuse(token) {
  const button = byId("refuse");
  button.disabled = true;
  const report = byId("report").checked;
  const block = byId("block").checked;
  announce("Sending your refusal…");
  let answer;
  try {
    answer = await call("/v1/consent/invitation/refusal", token, { method: "POST", body: { report, block } });
  } catch (error) {
    button.disabled = false;
    if (linkTrouble(error)) {
      showLinkProblem(error);
    } else {
      announce(`Your refusal could not be sent: ${error.message}. Try again.`);
      status.dataset.kind = "error";
    }
    return;
  }
  hide("terms", "choose");
  byId("declined-now").replaceChildren(
    el("li", {}, "Nothing was recorded, and this link no longer works."),
    el("li", {}, "The researcher is told that you refused."),
    answer.reported ? el("li", {}, "Your report was sent to lpm-guard's reviewers, who look into it.") : null,
    answer.blocked ? el("li", {}, "No further invitation will reach your email address.") : null);
  byId("title").textContent = "Request refused";
  announce("You refused this request.");
  show(byId("declined"));
  document.body.dataset.result = "declined";
}

// -- The live capture ------------------------------------------------------------------------

/** One run of the capture: camera, session, recording against the script, upload. */
class Capture {
  constructor(token, invitation) {
    this.token = token;
    this.invitation = invitation;
    this.running = false;
  }

  async run() {
    if (this.running) return;
    this.running = true;
    byId("record").disabled = true;
    byId("retry").disabled = true;
    delete document.body.dataset.result;
    // While recording, only the camera and the prompts: nothing to scroll past.
    hide("refused", "choose", "terms");
    const section = byId("capture");
    byId("prompt").textContent = "Starting the camera…";
    byId("prompt-text").textContent = "";
    byId("prompt-next").textContent = "";
    byId("progress").value = 0;
    section.hidden = false;
    section.scrollIntoView({ block: "start" });
    announce("Opening your camera and microphone…");
    let stream;
    try {
      stream = await openDevice({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false },
      });
    } catch (error) {
      this.fail([{ code: "device", reason: deviceTrouble(error), next: "Then press Try again." }]);
      return;
    }
    byId("preview").srcObject = stream;
    try {
      const blob = await this.record(stream);
      await this.upload(blob);
    } catch (error) {
      if (error instanceof ConsentProblem) {
        this.refused(error);
      } else {
        this.fail([{ code: "recorder", reason: `The recording failed: ${error.message}.`, next: "Try again, or use another browser." }]);
      }
    } finally {
      stream.getTracks().forEach((track) => track.stop());
      byId("preview").srcObject = null;
      delete document.body.dataset.recording;
      delete document.body.dataset.prompt;
      this.running = false;
    }
  }

  /** Open the session and record at once; resolves to the video when the script ends. */
  async record(stream) {
    // The session is opened the moment the camera runs, and the recording starts the moment
    // the script arrives: the script's clock and the camera's differ by one request.
    const opened = await call("/v1/consent/invitation/captures", this.token, { method: "POST" });
    const mimeType = FORMATS.find((type) => window.MediaRecorder && MediaRecorder.isTypeSupported(type));
    if (!window.MediaRecorder) throw new Error("this browser cannot record video");
    const recorder = new MediaRecorder(stream, {
      ...(mimeType ? { mimeType } : {}),
      videoBitsPerSecond: 1_500_000,
      audioBitsPerSecond: 96_000,
    });
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data && event.data.size) chunks.push(event.data);
    });
    const stopped = new Promise((resolve, reject) => {
      recorder.addEventListener("stop", resolve);
      recorder.addEventListener("error", (event) => reject(event.error || new Error("recorder error")));
    });
    recorder.start(1000);
    const started = performance.now();
    this.capture = opened;
    document.body.dataset.recording = "on";
    byId("rec-dot").hidden = false;
    announce("Recording. Follow each instruction as it appears.");
    const script = opened.script;
    const duration = script.duration_s;
    await new Promise((resolve) => {
      let shown = -1;
      const tick = () => {
        const t = (performance.now() - started) / 1000;
        if (t >= duration) {
          clearInterval(timer);
          resolve();
          return;
        }
        let index = script.steps.findIndex((step) => t >= step.start_s && t < step.end_s);
        if (index < 0) index = script.steps.length - 1; // the tail after the last step
        if (index !== shown) {
          shown = index;
          this.showStep(script.steps, index);
        }
        byId("progress").value = t / duration;
        byId("elapsed").textContent = `${Math.floor(t)} of ${Math.ceil(duration)} seconds`;
      };
      const timer = setInterval(tick, TICK_MS);
      tick();
    });
    recorder.stop();
    await stopped;
    byId("rec-dot").hidden = true;
    byId("progress").value = 1;
    const type = (recorder.mimeType || mimeType || "video/webm").split(";")[0];
    const blob = new Blob(chunks, { type });
    if (blob.size > opened.max_bytes) {
      throw new ConsentProblem(413, { type: "upload-too-large", detail: "the recording is too large" });
    }
    return blob;
  }

  showStep(steps, index) {
    const step = steps[index];
    const [words, arrow] = PROMPTS[step.prompt] || [step.prompt, ""];
    const prompt = byId("prompt");
    prompt.replaceChildren(arrow ? el("span", { class: "prompt-arrow", "aria-hidden": "true" }, arrow) : "", words);
    prompt.dataset.prompt = step.prompt;
    byId("prompt-text").textContent = step.text || "";
    byId("prompt-text").dataset.kind = step.prompt;
    const next = steps.slice(index + 1).find((later) => later.prompt !== "look");
    byId("prompt-next").textContent = next ? `Next: ${promptWords(next).replace(/:$/, "")}` : "Last one.";
    document.body.dataset.prompt = step.prompt;
  }

  async upload(blob) {
    hide("capture");
    const sending = byId("sending");
    sending.hidden = false;
    sending.scrollIntoView({ block: "start" });
    announce("Sending your recording. It is checked now: this takes up to a minute.");
    try {
      const receipt = await call(`/v1/consent/invitation/captures/${encodeURIComponent(this.capture.capture_id)}`,
        this.token, { method: "PUT", body: blob, type: blob.type || "video/webm" });
      this.accepted(receipt);
    } finally {
      sending.hidden = true;
    }
  }

  async refused(problem) {
    hide("capture", "sending");
    if (linkTrouble(problem)) {
      showLinkProblem(problem);
      document.body.dataset.result = "link-gone";
      return;
    }
    let left = null;
    try {
      left = (await call("/v1/consent/invitation", this.token)).attempts_left ?? null;
    } catch (error) {
      if (linkTrouble(error)) left = 0;
    }
    this.fail(refusalReasons(problem), left);
  }

  fail(reasons, left = null) {
    hide("capture", "sending");
    byId("refused-reasons").replaceChildren(...reasons.map(({ code, reason, next }) => el("li", { dataset: { check: code } },
      el("strong", {}, reason), " ", el("span", {}, `What to do: ${next}`))));
    byId("retry-left").textContent = attemptsText(left);
    byId("retry").hidden = left === 0;
    byId("retry").disabled = false;
    this.running = false;
    announce("Your recording was not accepted. The reasons are shown below.");
    show(byId("refused"));
    document.body.dataset.result = "refused";
  }

  accepted(receipt) {
    hide("terms", "choose", "capture", "sending", "refused");
    const uses = this.invitation.allowed_uses.map((use) => USE_WORDS[use] || use);
    const researcher = this.invitation.researcher_name || this.invitation.researcher;
    byId("accepted-now").replaceChildren(
      el("li", {}, "A person at lpm-guard watches your recording and checks that it is you, agreeing freely. Nothing of you can be made before they approve it."),
      el("li", {}, `Once approved, ${researcher} may make ${uses.join(", and ")}, until ${longDate(this.invitation.consent_expires_at)} unless you withdraw.`),
      el("li", {}, "Your recording is kept encrypted, as proof of your consent."),
      el("li", {}, "The link to withdraw is in the email we sent you: keep it."));
    byId("title").textContent = "Recording received";
    announce("Thank you. A reviewer will now watch your recording; we have emailed you the link to withdraw.");
    show(byId("accepted"));
    document.body.dataset.result = receipt.status === "awaiting_review" ? "awaiting-review" : receipt.status;
  }
}

/** getUserMedia, or a plain error where the browser offers no camera or microphone at all. */
function openDevice(constraints) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const error = new Error("no media devices");
    error.name = window.isSecureContext ? "NotSupportedError" : "InsecureContext";
    return Promise.reject(error);
  }
  return navigator.mediaDevices.getUserMedia(constraints);
}

/** Why the camera and microphone did not start, in plain words. */
function deviceTrouble(error) {
  const words = {
    NotAllowedError: "The camera or microphone was not allowed. Allow this page to use both (in the address bar or your browser's settings).",
    NotFoundError: "No camera or microphone was found on this device. Use a phone or laptop that has both.",
    NotReadableError: "The camera or microphone is busy: another app may be using it. Close that app.",
    OverconstrainedError: "The camera could not be used. Try another browser.",
    InsecureContext: "The camera only works on a secure (https) page. Open the link exactly as you received it.",
    NotSupportedError: "This browser cannot use a camera. Try a recent Chrome, Firefox, Safari or Edge.",
  };
  return words[error.name] || `The camera and microphone could not be started (${error.message}).`;
}

// -- Withdrawal ------------------------------------------------------------------------------

function showRevocation(token) {
  byId("title").textContent = "Withdraw your consent";
  const confirm = byId("confirm");
  const revoke = byId("revoke");
  confirm.addEventListener("change", () => { revoke.disabled = !confirm.checked; });
  revoke.addEventListener("click", async () => {
    revoke.disabled = true;
    const block = byId("revoke-block").checked;
    announce("Withdrawing your consent…");
    try {
      await call("/v1/consent/revocation", token, { method: "POST", body: { block } });
    } catch (error) {
      const words = {
        "link-gone": "Your consent was already withdrawn: nothing more to do.",
        "link-not-found": "This withdrawal link is not one we know. Open the whole link from the email you were sent; if it still fails, contact the researcher.",
        "wrong-state": "Your consent was already withdrawn: nothing more to do.",
        offline: "The server could not be reached. Check your internet connection, then try again.",
      }[error.slug] || `Your consent could not be withdrawn: ${error.message}. Try again, or contact the researcher.`;
      status.textContent = words;
      status.dataset.kind = "error";
      revoke.disabled = !confirm.checked || error.slug === "link-gone" || error.slug === "wrong-state";
      document.body.dataset.result = "revoke-failed";
      return;
    }
    byId("revocation").hidden = true;
    byId("revoked-blocked").hidden = !block;
    announce("Your consent is withdrawn.");
    show(byId("revoked"));
    document.body.dataset.result = "revoked";
  });
  announce("You can withdraw your consent here.");
  byId("revocation").hidden = false;
  document.body.dataset.ready = "consent";
}

// -- Start -----------------------------------------------------------------------------------

const fragment = decodeURIComponent(location.hash.slice(1));
window.addEventListener("hashchange", () => location.reload());
if (fragment.startsWith("revoke=")) {
  showRevocation(fragment.slice("revoke=".length));
} else if (fragment) {
  showInvitation(fragment);
} else {
  showLinkProblem(new ConsentProblem(401, { detail: "no link" }));
  byId("link-problem-reason").textContent = "This page needs the link you were sent.";
  byId("link-problem-next").textContent = "Open the whole link from the email you were sent.";
  document.body.dataset.ready = "consent";
}
