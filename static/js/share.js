// One-tap sharing: record the share, then open the network (or the phone's share sheet, or copy).
// Without this script the form still works: the server redirects to the network.
const OPEN_IN_NEW_WINDOW = new Set(["linkedin", "x", "facebook", "whatsapp"]);
// LinkedIn and Facebook take only the link, so the caption goes to the clipboard for pasting.
const COPY_CAPTION_TOO = new Set(["linkedin", "facebook"]);

function announce(text) {
  const line = document.getElementById("share-status");
  if (line) line.textContent = text;
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

document.addEventListener("DOMContentLoaded", () => {
  showNativeButtons();
  // A call to action's push opens the post with its share buttons open (?share=1): bring them into view.
  const sheet = document.querySelector(".share-sheet[data-open-on-load]");
  if (sheet) sheet.scrollIntoView({ block: "start" });
});
document.addEventListener("htmx:afterSwap", (e) => showNativeButtons(e.detail.target));

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-share-form]");
  if (!form) return;
  event.preventDefault();
  const network = event.submitter ? event.submitter.value : "copy";
  // Open the window inside the tap, or the browser would block it as a pop-up.
  const win = OPEN_IN_NEW_WINDOW.has(network) ? window.open("", "_blank") : null;
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
    announce(err.message);
    return;
  }
  let message = data.message;
  if (network === "native") {
    try {
      await navigator.share({ title: form.dataset.title, text: data.text, url: data.link });
    } catch { /* the person closed the sheet */ }
  } else if (network === "copy") {
    message = (await copy(data.text)) ? form.dataset.copied || "Copied." : data.text;
  } else if (data.intent_url) {
    if (COPY_CAPTION_TOO.has(network)) await copy(data.text);
    if (win) {
      win.opener = null;
      win.location.href = data.intent_url;
    } else {
      window.location.href = data.intent_url;
    }
  }
  announce(message);
  const count = document.querySelector(`[data-share-count="${form.action.match(/posts\/(\d+)/)[1]}"]`);
  if (count && data.share_count_label) count.textContent = data.share_count_label;
  form.dispatchEvent(new CustomEvent("herald:shared", { bubbles: true, detail: data }));
});
