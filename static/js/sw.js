// Herald service worker. The server fills in VERSION and PRECACHE (see app/main/routes.py).
const VERSION = "__VERSION__";
const SHELL_CACHE = `herald-shell-${VERSION}`;
const PAGE_CACHE = `herald-pages-${VERSION}`;
const PRECACHE = __PRECACHE__;
const OFFLINE_URL = "/offline";
// Pages kept for offline use: the last visited ones (a phone has little room, and old pages go stale).
const PAGE_CACHE_MAX = 25;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL_CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  // Drop caches of older versions so phones never mix old and new shells.
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(
        keys.filter((k) => k.startsWith("herald-") && k !== SHELL_CACHE && k !== PAGE_CACHE)
            .map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

// Keep the page cache to its newest PAGE_CACHE_MAX entries (keys() lists them oldest first).
async function rememberPage(request, response) {
  const cache = await caches.open(PAGE_CACHE);
  await cache.delete(request);  // a page visited again moves to the end of the list
  await cache.put(request, response);
  const keys = await cache.keys();
  await Promise.all(keys.slice(0, Math.max(0, keys.length - PAGE_CACHE_MAX)).map((key) => cache.delete(key)));
}

function isCacheablePage(request, response) {
  return response.ok && response.type === "basic" && !request.headers.get("HX-Request")
    && !(response.headers.get("Cache-Control") || "").includes("no-store");
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // Tracked links and media are never intercepted.
  if (url.pathname.startsWith("/r/")) return;

  if (request.mode === "navigate") {
    // Network first; the last good copy of each page serves offline.
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (isCacheablePage(request, response)) {
            event.waitUntil(rememberPage(request, response.clone()));
          }
          return response;
        })
        .catch(() => caches.match(request, { cacheName: PAGE_CACHE })
          .then((hit) => hit || caches.match(OFFLINE_URL)))
    );
    return;
  }

  if (url.pathname.startsWith("/static/")) {
    // Static files: cache first, then network (and remember it).
    event.respondWith(
      caches.match(request).then((hit) => hit || fetch(request).then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(SHELL_CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      }))
    );
  }
});
