// One-tap sharing: record the share, then open the network (or the phone's share sheet, or copy).
// Without this script the form still works: the server redirects to the network.
const OPEN_IN_NEW_WINDOW = new Set(["linkedin", "x", "facebook", "whatsapp"]);
// LinkedIn and Facebook take only the link, so the caption goes to the clipboard for pasting.
const COPY_CAPTION_TOO = new Set(["linkedin", "facebook"]);
// Long enough to read "paste it in the post" before the network covers the page, well inside
// the few seconds a tap lets a page open a window.
const READ_PAUSE_MS = 1200;
const X_LIMIT = 280;
const X_LINK_LENGTH = 23; // X counts every link as 23 characters
const SAVE_DELAY_MS = 800;

// The card's own status line: the confirmation shows (and is announced) next to the tapped card.
function noteOf(form) {
  return form.querySelector(".share-note");
}

function announce(form, text) {
  const note = noteOf(form);
  if (!note) return;
  note.querySelector(".share-check").hidden = true;
  note.querySelector("[data-share-message]").textContent = text;
  note.scrollIntoView({ block: "nearest" });
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

function showNativeButtons(root = document) {
  if (!navigator.share) return;
  root.querySelectorAll("button[data-native]").forEach((b) => { b.hidden = false; });
}

// Where the link goes, and whether the caption fits on X, as the person types.
function describeCaption(form) {
  const box = form.querySelector("textarea[name=caption]");
  if (!box) return;
  const text = box.value.trim();
  const hint = form.querySelector("[data-link-hint]");
  if (hint) hint.textContent = text.includes("{link}") ? hint.dataset.here : hint.dataset.end;
  const warn = form.querySelector("[data-x-length]");
  if (!warn) return;
  const chars = (s) => [...s].length;
  const length = text.includes("{link}")
    ? chars(text.split("{link}").join("x".repeat(X_LINK_LENGTH)))
    : chars(text) + (text ? 1 : 0) + X_LINK_LENGTH;
  warn.hidden = length <= X_LIMIT;
  warn.textContent = warn.hidden ? "" : warn.dataset.tooLong.replace("{count}", length);
}

// Keep the person's own wording on the server, so the card offers it next time (and after a reload).
const saving = new WeakMap();
function saveCaption(form) {
  clearTimeout(saving.get(form));
  saving.delete(form);
  const body = new FormData();
  ["csrf_token", "caption", "original"].forEach((name) => body.set(name, form.elements[name].value));
  return fetch(form.dataset.captionUrl, {
    method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin",
  }).catch(() => {});
}

function setUp(root = document) {
  showNativeButtons(root);
  root.querySelectorAll("form[data-share-form]").forEach(describeCaption);
}

document.addEventListener("DOMContentLoaded", () => {
  setUp();
  // A call to action's push opens the post with its share buttons open (?share=1): bring them into view.
  const sheet = document.querySelector(".share-sheet[data-open-on-load]");
  if (sheet) sheet.scrollIntoView({ block: "start" });
});
// A new feed page replaces its "loading more" row (outerHTML), so the event's target is the
// detached row: set up the whole page again (a few dozen cards, idempotent).
document.addEventListener("htmx:afterSwap", () => setUp());

document.addEventListener("input", (event) => {
  const form = event.target.closest("form[data-share-form]");
  if (!form || event.target.name !== "caption") return;
  describeCaption(form);
  clearTimeout(saving.get(form));
  saving.set(form, setTimeout(() => saveCaption(form), SAVE_DELAY_MS));
});
document.addEventListener("change", (event) => {
  const form = event.target.closest("form[data-share-form]");
  if (form && event.target.name === "caption" && saving.has(form)) saveCaption(form);
});

// "Did you share it?" when the person comes back from LinkedIn or Facebook. The share is recorded
// already (on the tap); the answer only closes the question, kindly.
let awaitingReturn = null;
function askOnReturn() {
  if (document.visibilityState !== "visible" || !awaitingReturn || !document.hasFocus()) return;
  const note = noteOf(awaitingReturn);
  awaitingReturn = null;
  const check = note.querySelector(".share-check");
  note.querySelector("[data-open-network]").hidden = true;
  note.querySelector("[data-share-message]").textContent = check.getAttribute("aria-label");
  check.hidden = false;
  note.scrollIntoView({ block: "nearest" });
}
document.addEventListener("visibilitychange", askOnReturn);
window.addEventListener("focus", askOnReturn);
document.addEventListener("click", (event) => {
  const answer = event.target.closest(".share-check button");
  if (!answer) return;
  const note = answer.closest(".share-note");
  announce(answer.form, answer.value === "yes" ? note.dataset.thanks : note.dataset.later);
});

function openNetwork(form, network, url, label) {
  const win = window.open("", "_blank");
  if (win) {
    win.opener = null;
    win.location.href = url;
    awaitingReturn = form;
    return;
  }
  // The browser blocked the window: one more tap opens it.
  const link = noteOf(form).querySelector("[data-open-network]");
  link.href = url;
  link.textContent = noteOf(form).dataset.open.replace("{network}", label);
  link.hidden = false;
  link.addEventListener("click", () => { awaitingReturn = form; link.hidden = true; }, { once: true });
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-share-form]");
  if (!form) return;
  event.preventDefault();
  const network = event.submitter ? event.submitter.value : "copy";
  const label = event.submitter ? event.submitter.textContent.trim() : network;
  const pasteFirst = COPY_CAPTION_TOO.has(network);
  // Open the window inside the tap, or the browser would block it as a pop-up (LinkedIn and
  // Facebook wait until the paste hint is read: they open within the tap's grace period).
  const win = OPEN_IN_NEW_WINDOW.has(network) && !pasteFirst ? window.open("", "_blank") : null;
  clearTimeout(saving.get(form));
  saving.delete(form);
  const body = new FormData(form);
  body.set("network", network);
  let data;
  try {
    const response = await fetch(form.action, {
      method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin",
    });
    data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    const trigger = response.headers.get("HX-Trigger");
    if (trigger) {
      const events = JSON.parse(trigger);
      Object.entries(events).forEach(([name, detail]) => {
        document.dispatchEvent(new CustomEvent(name, { detail }));
      });
    }
  } catch (err) {
    if (win) win.close();
    announce(form, err.message);
    return;
  }
  let message = data.message;
  if (network === "native") {
    try {
      // A caption with {link} carries the link already; the share sheet would add it twice.
      const url = data.text.includes(data.link) ? undefined : data.link;
      await navigator.share({ title: form.dataset.title, text: data.text, url });
    } catch { /* the person closed the sheet */ }
  } else if (network === "copy") {
    message = (await copy(data.text)) ? form.dataset.copied || "Copied." : data.text;
  } else if (data.intent_url && pasteFirst) {
    const copied = await copy(data.text);
    if (copied) message = noteOf(form).dataset.paste;  // announced below, before the network opens
    setTimeout(() => openNetwork(form, network, data.intent_url, label), copied ? READ_PAUSE_MS : 0);
  } else if (data.intent_url) {
    if (win) {
      win.opener = null;
      win.location.href = data.intent_url;
    } else {
      window.location.href = data.intent_url;
    }
  }
  announce(form, message);
  const count = document.querySelector(`[data-share-count="${form.action.match(/posts\/(\d+)/)[1]}"]`);
  if (count && data.share_count_label) count.textContent = data.share_count_label;
  form.dispatchEvent(new CustomEvent("herald:shared", { bubbles: true, detail: data }));
});
