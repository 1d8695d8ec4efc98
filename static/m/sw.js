// The master's page offline: the shell (styles, script, icons, the offline page) is cached; pages and
// actions always go to the network, and when it fails the offline page says that orders cannot be
// accepted without a connection. A page is never served from the cache, so no stale accept button.
"use strict";
var SHELL = "fs-m-shell-v1";
var ASSETS = ["/static/m/m.css", "/static/m/m.js", "/static/m/icon.svg", "/static/m/icon-192.png", "/static/m/icon-512.png", "/m/offline"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) { return cache.addAll(ASSETS); }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (key) { return key !== SHELL; }).map(function (key) { return caches.delete(key); }));
  }).then(function () { return self.clients.claim(); }));
});

function offline() {
  return caches.match("/m/offline").then(function (page) {
    return page || new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname === "/m/offers/events") return;
  if (url.pathname.indexOf("/static/m/") === 0 && request.method === "GET") {
    // The shell: network first (a new binary's files at once), the cached copy when offline.
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        caches.open(SHELL).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    }).catch(function () { return caches.match(request); }));
    return;
  }
  if (request.mode === "navigate" || request.method !== "GET") {
    event.respondWith(fetch(request).catch(offline));
  }
});
