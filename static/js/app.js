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
