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
