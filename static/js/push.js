// Web Push on this device. Loaded on every page for signed-in people (templates/_shell.html):
// - on every app start, a subscription this browser already has is sent to the server again
//   (push services change subscriptions silently, and the server forgets dead ones);
// - on the notification settings page (#push-setup) it runs the "Turn on notifications" and
//   "Turn off on this device" buttons. Permission is asked only after the tap.
// No inline script anywhere (strict CSP); every text comes from the page (translated there).

const STATE_KEY = "herald-push";  // {endpoint, key, device}: what this browser last sent, and with which key
const SENT_KEY = "herald-push-sent";  // sessionStorage: sent once per app start, not on every page

function readJson(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) || "null");
  } catch {
    return null;
  }
}

function writeJson(storage, key, value) {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch { /* private mode: nothing kept */ }
}

// The CSRF token: a form's on pages that have one, else the one htmx sends (base.html's hx-headers).
function csrfToken() {
  const field = document.querySelector("input[name=csrf_token]");
  if (field && field.value) return field.value;
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  } catch {
    return "";
  }
}

// A short name for this device, for the list of devices: "Chrome on Android", "Safari on iPhone".
export function deviceLabel(ua = navigator.userAgent, touch = navigator.maxTouchPoints || 0, format = null) {
  const browsers = [
    [/EdgA?\/|EdgiOS\//, "Edge"],
    [/SamsungBrowser\//, "Samsung Internet"],
    [/OPR\/|Opera|OPT\//, "Opera"],
    [/Firefox\/|FxiOS\//, "Firefox"],
    [/Chrome\/|CriOS\//, "Chrome"],
    [/Safari\//, "Safari"],
  ];
  const systems = [
    [/iPhone|iPod/, "iPhone"],
    [/iPad/, "iPad"],
    [/Android/, "Android"],
    [/CrOS/, "ChromeOS"],
    [/Windows/, "Windows"],
    // iPadOS asks for the desktop site and says "Macintosh"; only its touch screen tells it apart.
    [/Macintosh|Mac OS X/, touch > 1 ? "iPad" : "Mac"],
    [/Linux/, "Linux"],
  ];
  const browser = (browsers.find(([re]) => re.test(ua)) || [null, ""])[1];
  const system = (systems.find(([re]) => re.test(ua)) || [null, ""])[1];
  if (browser && system) return (format || "{browser} on {os}").replace("{browser}", browser).replace("{os}", system);
  return browser || system;
}

// Set in the page head for signed-in people (templates/_shell.html): where subscriptions go, and
// the translated "{browser} on {os}".
function headMeta() {
  return document.querySelector('meta[name="herald-push"]');
}

function deviceFormat() {
  const meta = headMeta();
  return meta ? meta.dataset.device : null;
}

function isIos() {
  return /iPhone|iPad|iPod/.test(navigator.userAgent)
    || (/Macintosh/.test(navigator.userAgent) && (navigator.maxTouchPoints || 0) > 1);
}

function isStandalone() {
  return navigator.standalone === true || window.matchMedia("(display-mode: standalone)").matches;
}

function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

// The VAPID public key (base64url) as the bytes PushManager wants.
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(base64url.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function keyOf(subscription) {
  const raw = subscription.options && subscription.options.applicationServerKey;
  if (!raw) return "";
  return btoa(String.fromCharCode(...new Uint8Array(raw))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// `promise`, or `fallback` once `ms` have passed.
async function within(promise, ms, fallback = null) {
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(fallback), ms); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// The active service worker's registration (app.js registers it on load), or null after 10 s.
function ready() {
  return within(navigator.serviceWorker.ready, 10000);
}

// The browser asks its push service (Google's, Mozilla's, Apple's) for a subscription. One that cannot
// be reached (a locked-down network) leaves Chromium waiting for good: give up after 30 s.
async function subscribeWith(registration, options) {
  const subscription = await within(registration.pushManager.subscribe(options), 30000);
  if (!subscription) throw new Error("the push service did not answer");
  return subscription;
}

async function post(url, fields) {
  const body = new URLSearchParams();
  const token = csrfToken();
  if (token) body.append("csrf_token", token);
  Object.entries(fields).forEach(([name, value]) => { if (value) body.append(name, value); });
  const response = await fetch(url, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": token },
  });
  let data = {};
  try {
    data = await response.json();
  } catch { /* not JSON: a sign-in page or an error page */ }
  return { ok: response.ok && data.ok !== false, data };
}

// Send this browser's subscription to the server; `refresh` for the quiet re-send on app start
// (the server then only updates a device it still has: one removed by "Turn off on all devices"
// or from the list stays removed).
async function send(url, subscription, { refresh = false, previous = "" } = {}) {
  const json = subscription.toJSON();
  const keys = json.keys || {};
  const device = deviceLabel(navigator.userAgent, navigator.maxTouchPoints || 0, deviceFormat());
  const result = await post(url, {
    endpoint: subscription.endpoint,
    p256dh: keys.p256dh,
    auth: keys.auth,
    device,
    refresh: refresh ? "1" : "",
    previous: previous && previous !== subscription.endpoint ? previous : "",
  });
  if (result.ok) writeJson(localStorage, STATE_KEY, { endpoint: subscription.endpoint, key: keyOf(subscription), device });
  return result;
}

// On every app start: tell the server this browser's subscription (once per session).
async function refresh(subscribeUrl) {
  if (!supported() || Notification.permission !== "granted") return;
  if (readJson(sessionStorage, SENT_KEY)) return;
  const state = readJson(localStorage, STATE_KEY);
  if (!state) return;  // never turned on in this browser (or turned off): nothing to re-send
  const registration = await navigator.serviceWorker.getRegistration();
  if (!registration) return;
  let subscription = await registration.pushManager.getSubscription();
  if (!subscription && state.key) {
    // The push service dropped it (permission is still granted, so no prompt): make a new one.
    try {
      subscription = await subscribeWith(registration, { userVisibleOnly: true, applicationServerKey: keyBytes(state.key) });
    } catch {
      return;
    }
  }
  if (!subscription) return;
  const result = await send(subscribeUrl, subscription, { refresh: true, previous: state.endpoint });
  if (result.ok) {
    writeJson(sessionStorage, SENT_KEY, true);
  } else if (result.data && result.data.removed) {
    // Removed on the server (another device turned all off, or the list): off here too.
    await subscription.unsubscribe().catch(() => {});
    writeJson(localStorage, STATE_KEY, null);
    writeJson(sessionStorage, SENT_KEY, true);
  }
}

// --- the settings page ------------------------------------------------------------------------

function setupPage(root) {
  const status = root.querySelector("[data-push-status]");
  const enable = root.querySelector("[data-push-enable]");
  const disable = root.querySelector("[data-push-disable]");
  const devices = document.getElementById("push-devices");

  function show(state) {
    status.textContent = status.dataset[state] || "";
    status.dataset.state = state;
    root.dataset.pushState = state;
    enable.hidden = !["off", "failed"].includes(state);
    disable.hidden = state !== "on";
  }

  // The list of devices changes with this one: take it from a fresh copy of the page.
  async function refreshDevices() {
    if (!devices) return;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      const html = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = html.getElementById("push-devices");
      if (response.ok && fresh) devices.replaceChildren(...fresh.childNodes);
    } catch { /* offline: the list updates on the next visit */ }
  }

  if (!supported()) {
    show(isIos() && !isStandalone() ? "ios" : "unsupported");
    return;
  }
  if (Notification.permission === "denied") {
    show("denied");
    return;
  }

  (async () => {
    const registration = await navigator.serviceWorker.getRegistration();
    const subscription = registration ? await registration.pushManager.getSubscription() : null;
    if (!subscription || Notification.permission !== "granted") return show("off");
    show("on");
    // The settings page is where people check: make sure the server still has this device.
    const state = readJson(localStorage, STATE_KEY);
    let result;
    try {
      result = await send(root.dataset.subscribeUrl, subscription, { refresh: true, previous: state && state.endpoint });
    } catch {
      return undefined;  // offline: the browser's word stands
    }
    if (result.ok) {
      writeJson(sessionStorage, SENT_KEY, true);
    } else if (result.data.removed) {
      await subscription.unsubscribe().catch(() => {});
      writeJson(localStorage, STATE_KEY, null);
      show("off");
    }
    return undefined;
  })().catch(() => show("off"));

  enable.addEventListener("click", async () => {
    enable.disabled = true;
    try {
      // Asked here, inside the tap, after the page said what the person will get.
      const permission = await Notification.requestPermission();
      if (permission === "denied") return show("denied");
      if (permission !== "granted") return show("off");
      const registration = await ready();
      if (!registration) return show("failed");
      const options = { userVisibleOnly: true, applicationServerKey: keyBytes(root.dataset.vapidKey) };
      let subscription = await registration.pushManager.getSubscription();
      if (subscription && keyOf(subscription) && keyOf(subscription) !== root.dataset.vapidKey) {
        await subscription.unsubscribe();  // made with another key: it could never receive Herald's pushes
        subscription = null;
      }
      subscription = subscription || await subscribeWith(registration, options);
      const result = await send(root.dataset.subscribeUrl, subscription);
      if (!result.ok) return show("failed");
      writeJson(sessionStorage, SENT_KEY, true);
      show("on");
      await refreshDevices();
    } catch (err) {
      console.warn("push subscription failed", err);
      show("failed");
    } finally {
      enable.disabled = false;
    }
  });

  disable.addEventListener("click", async () => {
    disable.disabled = true;
    try {
      const registration = await navigator.serviceWorker.getRegistration();
      const subscription = registration ? await registration.pushManager.getSubscription() : null;
      const state = readJson(localStorage, STATE_KEY);
      const endpoint = subscription ? subscription.endpoint : state && state.endpoint;
      if (subscription) await subscription.unsubscribe();
      writeJson(localStorage, STATE_KEY, null);
      // Without an endpoint the server would turn off every device: only this one is meant.
      if (endpoint) await post(root.dataset.unsubscribeUrl, { endpoint });
      show("off");
      await refreshDevices();
    } catch (err) {
      console.warn("push unsubscribe failed", err);
      show("failed");
    } finally {
      disable.disabled = false;
    }
  });
}

const setup = document.getElementById("push-setup");
if (setup) setupPage(setup);
else if (headMeta()) refresh(headMeta().content).catch(() => { /* offline: next start */ });

// --- the bell and the notification centre -------------------------------------------------------

// The unread count on the app icon (App Badging API, installed apps): the bell says how many.
function syncBadge() {
  const bell = document.getElementById("bell");
  if (!bell || !("setAppBadge" in navigator)) return;
  const unread = Number.parseInt(bell.dataset.unread, 10) || 0;
  (unread > 0 ? navigator.setAppBadge(unread) : navigator.clearAppBadge()).catch(() => { /* not installed */ });
}

syncBadge();

// "Read" in the centre posts with htmx, which swaps in the fresh bell; the item itself turns read here.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form[data-mark-read]") : null;
  if (!form || !event.detail.successful) return;
  const item = form.closest(".notification");
  if (item) {
    item.classList.remove("unread");
    const tag = item.querySelector(".tag-new");
    if (tag) tag.remove();
    const link = item.querySelector(".notification-link");
    form.remove();
    if (link) link.focus();  // the button that had the focus is gone
  }
  if (!document.querySelector(".notification.unread")) {
    const all = document.querySelector("form[data-read-all]");
    if (all) all.remove();
  }
  syncBadge();
});
