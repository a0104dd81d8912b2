// Herald shell: registers the service worker. No inline script anywhere (strict CSP).
if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((err) => {
      console.warn("service worker registration failed", err);
    });
  });
}

// Move focus to the main region after htmx swaps a whole page section, for screen readers.
document.addEventListener("htmx:afterSettle", (event) => {
  if (event.detail.target && event.detail.target.id === "main") {
    event.detail.target.focus();
  }
});

// Points and badges earned: the server says so in an HX-Trigger header ("herald:points");
// htmx dispatches it for htmx requests, share.js for its own fetches.
let toastTimer;
function showToast(text) {
  const toast = document.getElementById("toast");
  if (!toast) return;
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.hidden = true; }, 4000);
}

document.addEventListener("herald:points", (event) => {
  const detail = event.detail || {};
  const toast = document.getElementById("toast");
  if (!toast) return;
  document.querySelectorAll("[data-balance]").forEach((el) => { el.textContent = detail.balance; });
  const parts = [];
  if (detail.points) parts.push(toast.dataset.points.replace("{n}", detail.points));
  (detail.badges || []).forEach((name) => parts.push(toast.dataset.badge.replace("{name}", name)));
  if (parts.length) showToast(parts.join(" · "));
});

// Copy buttons on any page (a gift-card code, a new API token): a <button data-copy="<id of the text>"
// data-status="<id of a live region>" data-copied=… data-failed=… hidden>, shown once this script runs.
async function copyText(text, element) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (or no permission): select the text so a long press or Ctrl+C copies it.
    window.getSelection().selectAllChildren(element);
    return document.execCommand("copy");
  }
}

// A Copy button (hidden until this script runs) copies its target's text and says so in a live region.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const target = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.status);
  if (!target || !status) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const copied = await copyText(target.textContent.trim(), target);
    status.textContent = "";
    // A fresh text node each time, so a second copy is announced again.
    setTimeout(() => { status.textContent = copied ? button.dataset.copied : button.dataset.failed; }, 50);
  });
}
