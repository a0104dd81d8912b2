// Surveys on a phone: one question per screen, answers kept on the phone (localStorage) until the
// server has them, and answers given offline sent when the connection comes back. Without
// JavaScript the form shows every question on one page and posts normally. No inline script (CSP).

const PREFIX = "herald-survey-";

function storageKey(waveId) { return `${PREFIX}${waveId}`; }

function load(waveId) {
  try { return JSON.parse(localStorage.getItem(storageKey(waveId)) || "null"); } catch { return null; }
}

function save(waveId, state) {
  try { localStorage.setItem(storageKey(waveId), JSON.stringify(state)); } catch { /* private mode: nothing kept */ }
}

function forget(waveId) {
  try { localStorage.removeItem(storageKey(waveId)); } catch { /* ignore */ }
}

// The form's answers as [name, value] pairs (the CSRF token is added when sending).
function answersOf(form) {
  const pairs = [];
  for (const [name, value] of new FormData(form)) {
    if (name !== "csrf_token") pairs.push([name, value]);
  }
  return pairs;
}

function restore(form, pairs) {
  const byName = new Map();
  pairs.forEach(([name, value]) => {
    if (!byName.has(name)) byName.set(name, []);
    byName.get(name).push(value);
  });
  for (const el of form.elements) {
    if (!el.name || !byName.has(el.name)) continue;
    const values = byName.get(el.name);
    if (el.type === "radio" || el.type === "checkbox") el.checked = values.includes(el.value);
    else if (el.tagName === "TEXTAREA" || el.type === "text") el.value = values[0];
  }
}

// Send kept answers; resolves to "sent", "closed", "invalid" or "failed".
async function send(state) {
  const body = new URLSearchParams();
  body.append("csrf_token", state.token);
  state.answers.forEach(([name, value]) => body.append(name, value));
  let response;
  try {
    response = await fetch(state.action, {
      method: "POST", body, credentials: "same-origin", redirect: "follow",
      headers: { "X-CSRFToken": state.token },
    });
  } catch {
    return "failed";
  }
  if (response.ok && response.url.includes("/thanks")) return "sent";
  if (response.status === 410) return "closed";
  if (response.status === 400) return "invalid";
  return "failed";
}

// Answers kept from an earlier visit that were submitted but not yet received: send them now.
async function flushPending(onResult) {
  if (!navigator.onLine) return;
  // The keys first: forgetting one while walking localStorage by index would skip the next.
  const waveIds = [];
  try {
    for (let i = 0; i < localStorage.length; i += 1) {
      const key = localStorage.key(i);
      if (key && key.startsWith(PREFIX)) waveIds.push(key.slice(PREFIX.length));
    }
  } catch { return; }  // storage blocked: nothing was kept either
  for (const waveId of waveIds) {
    const state = load(waveId);
    if (!state || !state.pending) continue;
    const result = await send(state);
    if (result === "sent" || result === "closed") forget(waveId);
    if (onResult) onResult(waveId, result);
  }
}

function setUp(form) {
  const waveId = form.dataset.survey;
  const preview = form.dataset.preview === "1";
  const steps = [...form.querySelectorAll(".survey-step")];
  const intro = document.querySelector("[data-survey-intro]");
  const start = document.querySelector("[data-survey-start]");
  const back = form.querySelector("[data-survey-back]");
  const next = form.querySelector("[data-survey-next]");
  const submit = form.querySelector("[data-survey-submit]");
  const status = form.querySelector("[data-survey-status]");
  const progressBox = form.querySelector("[data-survey-progress]");
  const progress = progressBox.querySelector("progress");
  const stepLabel = progressBox.querySelector("[data-survey-step-label]");
  const hasError = Boolean(document.getElementById("survey-error"));
  let current = 0;

  const kept = preview ? null : load(waveId);
  if (kept && kept.answers) restore(form, kept.answers);

  // Whether the person pressed "Send answers" and the server does not have them yet (kept across visits).
  let pending = Boolean(kept && kept.pending);
  function persist(sending = pending) {
    if (preview) return;
    pending = sending;
    const token = form.querySelector("[name=csrf_token]")?.value || "";  // none when CSRF protection is off
    save(waveId, { answers: answersOf(form), step: current, pending, token, action: form.action });
  }

  function answered(step) {
    return [...step.querySelectorAll("input, textarea")].some((el) =>
      ((el.type === "radio" || el.type === "checkbox") ? el.checked : el.value.trim() !== ""));
  }

  function show(index, focus = true) {
    current = Math.max(0, Math.min(index, steps.length - 1));
    steps.forEach((step, i) => { step.hidden = i !== current; });
    progress.value = current + 1;
    stepLabel.textContent = form.dataset.stepLabel
      .replace("{n}", String(current + 1)).replace("{total}", String(steps.length));
    back.hidden = current === 0;
    next.hidden = current === steps.length - 1;
    submit.hidden = current !== steps.length - 1;
    status.textContent = "";
    if (focus) {
      const legend = steps[current].querySelector("legend");
      legend.tabIndex = -1;
      legend.focus();
    }
    persist();
  }

  function begin(index) {
    intro.hidden = true;
    progressBox.hidden = false;
    show(index);
  }

  // One question per screen: hide all but the intro until "Start" (or resume where the person left).
  // The progress bar's label says "Question n of N" on screen; each legend keeps it for screen readers only.
  form.querySelectorAll(".survey-count").forEach((count) => count.classList.add("sr-only"));
  steps.forEach((step) => { step.hidden = true; });
  back.hidden = true;
  next.hidden = true;
  submit.hidden = true;
  start.hidden = false;
  start.addEventListener("click", () => begin(0));
  // Someone who already answered something (even only the first question: step 0) is taken back to where they were.
  const started = kept && (kept.step > 0 || (kept.answers || []).some(([, value]) => value !== ""));
  if (hasError) begin(0);
  else if (started) begin(kept.step || 0);

  next.addEventListener("click", () => {
    const step = steps[current];
    if (step.dataset.required === "1" && !answered(step)) {
      status.textContent = form.dataset.requiredMessage;
      return;
    }
    show(current + 1);
  });
  back.addEventListener("click", () => show(current - 1));
  form.addEventListener("change", () => {
    if (status.textContent === form.dataset.requiredMessage) status.textContent = "";  // answered now
    persist();
  });
  form.addEventListener("input", () => persist());
  // Enter in a short text goes to the next question rather than sending the whole survey.
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.tagName === "INPUT" && event.target.type === "text" && !next.hidden) {
      event.preventDefault();
      next.click();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // Enter on a radio button or checkbox submits the form: before the last question it means "Next".
    if (current < steps.length - 1) { next.click(); return; }
    if (preview) { status.textContent = form.dataset.previewMessage; return; }
    const step = steps[current];
    if (step.dataset.required === "1" && !answered(step)) {
      status.textContent = form.dataset.requiredMessage;
      return;
    }
    persist(true);
    if (!navigator.onLine) { status.textContent = form.dataset.offlineMessage; return; }
    status.textContent = form.dataset.sendingMessage;
    submit.disabled = true;
    const result = await send(load(waveId));
    submit.disabled = false;
    if (result === "sent") {
      forget(waveId);
      window.location.assign(form.action.replace(/\/?$/, "/thanks"));
    } else if (result === "closed") {
      forget(waveId);
      status.textContent = form.dataset.closedMessage;
    } else if (result === "invalid") {
      persist(false);
      form.submit();  // the server's page says what is wrong, next to the question
    } else {
      status.textContent = form.dataset.failedMessage;
    }
  });

  // Answers sent while offline go out when the connection comes back, or when the page opens online again.
  async function sendKept() {
    const state = load(waveId);
    if (!state || !state.pending || !navigator.onLine) return;
    status.textContent = form.dataset.sendingMessage;
    const result = await send(state);
    if (result === "sent") {
      forget(waveId);
      window.location.assign(form.action.replace(/\/?$/, "/thanks"));
    } else if (result === "closed") {
      forget(waveId);
      status.textContent = form.dataset.closedMessage;
    } else {
      status.textContent = form.dataset.failedMessage;
    }
  }
  window.addEventListener("online", sendKept);
  if (!preview && kept && kept.pending) sendKept();
}

const form = document.querySelector("form.survey-form");
if (form) {
  setUp(form);
} else {
  // Any other page: answers kept while offline go out as soon as Herald opens online.
  const note = document.querySelector("[data-survey-pending]");
  const report = () => flushPending((_wave, result) => {
    if (note && result === "sent") note.textContent = note.dataset.sentMessage;
  });
  report();
  window.addEventListener("online", report);
}
// A finished survey leaves nothing on the phone.
const done = document.querySelector("[data-survey-done]");
if (done) forget(done.dataset.surveyDone);
