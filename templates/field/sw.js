// The field app's service worker (scope /m/), rendered by field.views.service_worker: version {{ version }}.
// - Precaches the app's static files under their deployed names (one cache per version; older ones are deleted).
// - Navigations: the network first (the shell is re-cached from every good answer), the cached shell when the
//   network fails or is too slow, so the app opens with no connection at all.
// - Static files of the app: from the cache. Everything else (the API) goes to the network untouched: the page
//   keeps its own offline copies of the data it shows (IndexedDB, static/field/store.js).
// - Background Sync ("outbox"): asks an open page to send the outbox, or sends it from here when none is open.
"use strict";
const VERSION = "{{ version }}";
const SHELL = {{ shell|safe }};
const ASSETS = {{ assets|safe }};
const STATIC_URL = {{ static_url|safe }};
importScripts({{ store|safe }});
{% verbatim %}
const CACHE = `field-${VERSION}`;
const ASSET_PATHS = new Set(ASSETS.map((url) => new URL(url, self.location.origin).pathname));
const STATIC_PREFIX = new URL(STATIC_URL, self.location.origin).pathname;
const NAVIGATION_PATIENCE_MS = 5000; // then the cached shell is shown (a weak signal is common on the street)

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(ASSETS);
    try {
      // The shell needs the session cookie; signed out, it is left to the next navigation.
      const response = await fetch(SHELL, { credentials: "same-origin", redirect: "manual" });
      if (response.ok) await cache.put(SHELL, response);
    } catch (_) { /* offline while installing: the next navigation caches it */ }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    // The previous version's cache stays one version longer: a page opened before this update still loads its
    // views' modules (under their old names) from it when offline. Older ones go.
    const ours = (await caches.keys()).filter((name) => name.startsWith("field-") && name !== CACHE);
    await Promise.all(ours.slice(0, -1).map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

async function cachedShell() {
  const cache = await caches.open(CACHE);
  return cache.match(SHELL, { ignoreSearch: true, ignoreVary: true });
}

async function navigation(event) {
  const cache = await caches.open(CACHE);
  const fromNetwork = fetch(event.request).then((response) => {
    const path = new URL(response.url || event.request.url).pathname;
    if (response.ok && !response.redirected && path === SHELL) {
      event.waitUntil(cache.put(SHELL, response.clone()));
    }
    return response;
  });
  fromNetwork.catch(() => { /* answered from the cache below */ });
  const cached = await cachedShell();
  if (!cached) return fromNetwork;
  let timer;
  const patience = new Promise((resolve) => { timer = setTimeout(() => resolve(cached), NAVIGATION_PATIENCE_MS); });
  try {
    return await Promise.race([fromNetwork, patience]);
  } catch (_) {
    return cached;
  } finally {
    clearTimeout(timer);
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === SHELL) {
    event.respondWith(navigation(event));
    return;
  }
  if (ASSET_PATHS.has(url.pathname) || url.pathname.startsWith(STATIC_PREFIX)) {
    event.respondWith((async () => {
      // This version's copy first (in development the names carry no hash), then an older version's.
      const current = await caches.open(CACHE);
      return (await current.match(request, { ignoreVary: true }))
        || (await caches.match(request, { ignoreVary: true }))
        || fetch(request);
    })());
  }
});

async function syncOutbox() {
  const pages = await self.clients.matchAll({ type: "window" });
  if (pages.length) {
    // A page sends in its own loop (and shows it): tell it to go now.
    pages.forEach((page) => page.postMessage({ flush: true }));
    return;
  }
  const [csrf, user] = await Promise.all([FieldStore.kvGet("csrf", ""), FieldStore.kvGet("user", null)]);
  if (user === null) return;
  const result = await FieldStore.flush({ csrf, user, force: true });
  if (result && (result.nextAt || result.busy)) {
    throw new Error("the outbox is not empty yet"); // the browser retries the sync later, with its own backoff
  }
}

self.addEventListener("sync", (event) => {
  if (event.tag === "outbox") event.waitUntil(syncOutbox());
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.version) event.source && event.source.postMessage({ version: VERSION });
});
{% endverbatim %}
