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

// --- Push ---------------------------------------------------------------------------------------
// The server sends Declarative Web Push JSON (app/notifications/sender.py):
//   {"web_push": 8030, "notification": {"title", "body", "navigate", "lang", "dir", "app_badge", "tag"}}
// Safari 18.4+ shows that itself; everywhere else this worker does. Every push shows a notification
// (browsers revoke the subscription of a site that pushes silently), even one that cannot be read.
const ICON = PRECACHE.find((u) => u.endsWith("/icons/icon-192.png")) || "/static/icons/icon-192.png";
const BADGE = PRECACHE.find((u) => u.endsWith("/icons/badge-96.png")) || ICON;
// Said when a push cannot be read, in each language Herald speaks (filled in by the server).
const FALLBACK = __FALLBACK__;
const CENTRE_URL = "/notifications";

// An address on this origin only: a push can never send the phone somewhere else.
function sameOriginUrl(raw) {
  try {
    const url = new URL(typeof raw === "string" && raw ? raw : CENTRE_URL, self.location.origin);
    return self.location.origin + url.pathname + url.search + url.hash;
  } catch {
    return self.location.origin + CENTRE_URL;
  }
}

function fallbackText(lang) {
  const wanted = [lang, ...(self.navigator.languages || [])].filter(Boolean).map((l) => String(l).slice(0, 2));
  const found = wanted.find((l) => FALLBACK[l]);
  return FALLBACK[found || "en"] || { title: "Herald", body: "" };
}

// What to show for one push message: [title, options, badge count or null].
function readPush(data) {
  let message = null;
  try {
    message = data ? data.json() : null;
  } catch {
    message = null;
  }
  const n = message && typeof message.notification === "object" && message.notification ? message.notification : {};
  const text = (value) => (typeof value === "string" ? value.trim() : "");
  const lang = text(n.lang);
  const fallback = fallbackText(lang);
  const title = text(n.title) || fallback.title;
  const body = text(n.title) ? text(n.body) : text(n.body) || fallback.body;
  const options = {
    body,
    icon: ICON,
    badge: BADGE,
    lang,
    dir: ["ltr", "rtl", "auto"].includes(n.dir) ? n.dir : "auto",
    data: { url: sameOriginUrl(n.navigate) },
    timestamp: Date.now(),
  };
  const tag = text(n.tag);
  if (tag) {
    options.tag = tag;
    options.renotify = true;  // a newer reminder replacing an older one still tells the person
  }
  const count = Number.parseInt(n.app_badge, 10);
  return [title, options, Number.isFinite(count) && count >= 0 ? count : null];
}

// The unread count on the app icon (App Badging API), where the browser has it.
async function setBadge(count) {
  if (count === null || !("setAppBadge" in self.navigator)) return;
  try {
    if (count > 0) await self.navigator.setAppBadge(count);
    else await self.navigator.clearAppBadge();
  } catch { /* not installed, or not allowed: the centre still shows the count */ }
}

self.addEventListener("push", (event) => {
  const [title, options, count] = readPush(event.data);
  event.waitUntil(Promise.all([self.registration.showNotification(title, options), setBadge(count)]));
});

// Open the notification's page in the Herald window already open (focused, then moved there), or a new one.
async function openTarget(url) {
  // Only windows this worker controls can be moved (navigate); the one in front first.
  const windows = await self.clients.matchAll({ type: "window" });
  const win = windows.find((c) => c.focused) || windows.find((c) => c.visibilityState === "visible") || windows[0];
  if (win) {
    try {
      await win.focus();
    } catch { /* focusing needs the click's permission: move the window anyway */ }
    try {
      const moved = await win.navigate(url);
      if (moved) return moved;
    } catch { /* it went elsewhere meanwhile: open a new window */ }
  }
  return self.clients.openWindow(url);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  event.waitUntil(openTarget(sameOriginUrl(data.url)));
});
