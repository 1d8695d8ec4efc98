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

// Web Push (issue 11 §1): every push is shown (iOS revokes subscriptions that receive silent pushes); the
// server composed the title and text in the master's language. One tag per offer, so its withdrawal
// replaces it. A tap opens the offer card (or the page the push names) in an open window when there is one.
self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: event.data ? event.data.text() : "" }; }
  var title = data.title || "Field Service";
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "", tag: data.tag, renotify: data.event === "new_offer",
    requireInteraction: data.event === "new_offer", icon: "/static/m/icon-192.png", badge: "/static/m/icon-192.png",
    data: { url: data.url || "/m" }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = new URL((event.notification.data && event.notification.data.url) || "/m", self.location.origin).href;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      if (windows[i].url.indexOf(self.location.origin + "/m") === 0 && "navigate" in windows[i]) {
        return windows[i].navigate(url).then(function (client) { return client && client.focus(); });
      }
    }
    return self.clients.openWindow(url);
  }));
});
