/*
 * The service worker (served as /sw.js with self.ABSENSI_SW = {cache, shell} prepended,
 * see webapp/kiosks/pages.py): the app shell works without a network.
 *
 * - The shell (/kiosk and the static files of this release) is cached at install; old
 *   releases' caches are deleted at activation.
 * - Pages (/kiosk, /absen): network first, the last good copy when offline (the query,
 *   e.g. ?kiosk=<code>, is ignored when matching, the page reads it itself).
 * - Static files: cache first (their URLs change with every release).
 * - API answers (/api/...) are never cached: they pass through untouched.
 */
const CONFIG = self.ABSENSI_SW;
const PAGES = ["/kiosk", "/absen"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CONFIG.cache).then((cache) => cache.addAll(CONFIG.shell))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((names) => Promise.all(
    names.filter((name) => name.startsWith("absensi-shell-") && name !== CONFIG.cache)
      .map((name) => caches.delete(name)),
  )).then(() => self.clients.claim()));
});

async function pageNetworkFirst(request, path) {
  const cache = await caches.open(CONFIG.cache);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) cache.put(path, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(path);
    if (cached) return cached;
    throw error;
  }
}

async function staticCacheFirst(request) {
  const cache = await caches.open(CONFIG.cache);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (request.mode === "navigate" && PAGES.includes(url.pathname)) {
    event.respondWith(pageNetworkFirst(request, url.pathname));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(staticCacheFirst(request));
  }
});
