// The master's page: countdowns, the live offer list (server-sent events), copy buttons, one tap per form,
// the offline notice and the service worker. Every form works without this file.
(function () {
  "use strict";

  function clock(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    var mm = h > 0 && m < 10 ? "0" + m : String(m);
    return (h > 0 ? h + ":" : "") + mm + ":" + (s < 10 ? "0" : "") + s;
  }

  // Each countdown ends at a fixed moment; an offer whose time is up disappears from the list, and on its
  // card the accept button is withdrawn (the server would refuse it anyway).
  function startCountdowns(root) {
    var now = Date.now();
    root.querySelectorAll(".countdown[data-left]").forEach(function (el) {
      el.dataset.end = String(now + Number(el.dataset.left) * 1000);
    });
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-end]").forEach(function (el) {
      var left = Math.max(0, Math.round((Number(el.dataset.end) - now) / 1000));
      el.textContent = clock(left);
      el.classList.toggle("low", left <= 30);
      if (left > 0) return;
      var item = el.closest(".feed [data-offer-id]");
      if (item) item.remove();
      if (el.dataset.expires === "card") expireCard();
    });
    showLive();
  }

  // The live offers' ends by offer id, from the last list the stream sent: the tab's count and the home
  // screen's banner follow them, and an offer whose time is up leaves both without waiting for the server.
  var ends = null;

  function remember(html) {
    var parsed = document.createElement("div");
    parsed.innerHTML = html;
    var now = Date.now();
    ends = {};
    parsed.querySelectorAll("[data-offer-id]").forEach(function (item) {
      var countdown = item.querySelector(".countdown[data-left]");
      ends[item.dataset.offerId] = now + Number(countdown ? countdown.dataset.left : 0) * 1000;
    });
  }

  function showLive() {
    if (!ends) return;
    var now = Date.now();
    var live = Object.keys(ends).filter(function (id) { return ends[id] > now; }).length;
    var badge = document.getElementById("offers-count");
    if (badge) {
      badge.textContent = String(live);
      badge.hidden = live === 0;
    }
    var banner = document.getElementById("offer-banner");
    if (banner) banner.hidden = banner.querySelector("[data-offer-id]") === null;
  }

  function expireCard() {
    var accept = document.getElementById("accept");
    if (accept) accept.closest("form").remove();
    var note = document.getElementById("expired-note");
    if (note) note.hidden = false;
  }

  function cue() {
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
    try {
      var Audio = window.AudioContext || window.webkitAudioContext;
      var ctx = new Audio(), osc = ctx.createOscillator();
      osc.frequency.value = 880;
      osc.connect(ctx.destination);
      osc.onended = function () { ctx.close(); };
      osc.start();
      osc.stop(ctx.currentTime + 0.2);
    } catch (e) { /* sound is a convenience: browsers may refuse it before a tap */ }
  }

  function ids(root) {
    return Array.prototype.map.call(root.querySelectorAll("[data-offer-id]"), function (el) { return el.dataset.offerId; });
  }

  // One stream per page (the tabs carry its address): the "New orders" list, the home screen's banner and
  // the tab's count are all refreshed from it, without a reload.
  function liveOffers() {
    var tabs = document.querySelector("nav.tabs[data-stream]");
    if (!tabs || !window.EventSource) return;
    var source = new EventSource(tabs.dataset.stream);
    source.addEventListener("offers", function (event) {
      remember(event.data);
      var fresh = false;
      document.querySelectorAll(".feed").forEach(function (feed) {
        var before = ids(feed);
        feed.innerHTML = event.data;
        startCountdowns(feed);
        if (ids(feed).some(function (id) { return before.indexOf(id) < 0; })) fresh = true;
      });
      if (fresh) cue();
      showLive();
      setOffline(false);
    });
    source.addEventListener("error", function () { setOffline(!navigator.onLine); });
  }

  function setOffline(offline) {
    var notice = document.getElementById("offline-notice");
    if (notice) notice.hidden = !offline;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.dataset.copy).then(function () {
      if (button.dataset.copied) button.textContent = button.dataset.copied;
    });
  });

  // "Share": the phone's share sheet where there is one; where there is none, or it refuses, the invitation
  // goes to the clipboard; where that is refused too (plain HTTP has no clipboard API), it is selected in its
  // box for a long-press copy.
  var share = document.querySelector("button[data-share]");
  if (share) {
    share.hidden = false;
    var copied = function () { share.textContent = share.dataset.copied; };
    var select = function () {
      var box = document.getElementById("invitation");
      box.focus();
      box.select();
      try { if (document.execCommand("copy")) copied(); } catch (e) { /* selected: he copies it himself */ }
    };
    var copy = function () {
      if (navigator.clipboard) navigator.clipboard.writeText(share.dataset.share).then(copied, select);
      else select();
    };
    share.addEventListener("click", function () {
      if (!navigator.share) return copy();
      navigator.share({ title: share.dataset.shareTitle, text: share.dataset.share }).catch(function (error) {
        if (error.name !== "AbortError") copy();
      });
    });
  }

  document.addEventListener("submit", function (event) {
    // One tap is enough: a second one while the first is on its way would only be refused.
    var button = event.target.querySelector("button:not([name])");
    if (button) setTimeout(function () { button.disabled = true; }, 0);
  });

  window.addEventListener("offline", function () { setOffline(true); });
  window.addEventListener("online", function () { setOffline(false); });

  // Home after signing up (his questionnaire pending): the sign-up drafts kept in the browser are done with.
  if (document.getElementById("moderation")) {
    try {
      Object.keys(localStorage).filter(function (k) { return k.indexOf("fs-signup:") === 0; })
        .forEach(function (k) { localStorage.removeItem(k); });
    } catch (e) { /* storage unavailable: nothing kept */ }
  }

  startCountdowns(document);
  tick();
  setInterval(tick, 1000);
  liveOffers();
  setOffline(!navigator.onLine);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(function () {});
})();

// Web Push (issue 11 §1): the "turn on notifications" step subscribes this browser on a tap (a gesture,
// as browsers and iOS require) with the server's VAPID key; on every load an existing subscription is
// sent again (they expire silently); logging out forgets this browser's subscription on the server.
(function () {
  "use strict";
  var step = document.getElementById("push-enable");
  var logout = document.getElementById("logout-form");
  var supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  var csrf = (step && step.dataset.csrf) || (logout && logout.querySelector("input[name=csrf]").value);

  function show(id, on) { var el = document.getElementById(id); if (el) el.hidden = !on; }

  function key(base64) {
    var padded = (base64 + "===".slice((base64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function send(method, body) {
    return fetch("/api/v1/me/push/subscriptions", {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (response) { if (!response.ok) throw new Error(String(response.status)); });
  }

  function registration() {
    return navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).then(function () { return navigator.serviceWorker.ready; });
  }

  function subscribed() {
    if (step) step.hidden = true;
    show("push-enabled", true);
  }

  if (step && !supported) { step.hidden = false; show("push-enable-button", false); show("push-unsupported", true); }
  if (step && supported) {
    if (Notification.permission === "denied") { step.hidden = false; show("push-enable-button", false); show("push-denied", true); }
    registration().then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
      if (sub) return send("POST", sub.toJSON());
      if (Notification.permission !== "denied") step.hidden = false;
    }).catch(function () { /* the step stays; a tap tries again */ });
    document.getElementById("push-enable-button").addEventListener("click", function () {
      show("push-failed", false);
      Notification.requestPermission().then(function (permission) {
        if (permission !== "granted") { show("push-enable-button", false); show("push-denied", true); return; }
        return registration().then(function (reg) {
          return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key(step.dataset.vapidKey) });
        }).then(function (sub) { return send("POST", sub.toJSON()); }).then(subscribed);
      }).catch(function () { show("push-failed", true); });
    });
  }

  if (logout && supported) {
    logout.addEventListener("submit", function (event) {
      if (logout.dataset.unsubscribed) return;
      event.preventDefault();
      var done = function () { logout.dataset.unsubscribed = "1"; logout.submit(); };
      navigator.serviceWorker.getRegistration("/m/").then(function (reg) { return reg && reg.pushManager.getSubscription(); }).then(function (sub) {
        if (!sub) return;
        return send("DELETE", { endpoint: sub.endpoint }).then(function () { return sub.unsubscribe(); });
      }).then(done, done);
    });
  }
})();
