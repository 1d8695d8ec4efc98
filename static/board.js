// The live board: a server-sent "refresh" fetches the columns again and swaps them in. The page works
// without this file; it only saves the reload.
"use strict";

(() => {
  const board = document.getElementById("board");
  if (!board || !window.EventSource) return;
  const offline = document.getElementById("board-offline");
  let loading = false;
  let again = false;

  // Swapping the columns must not throw the keyboard focus away: re-focus the same order's link.
  function focusedOrder() {
    const row = document.activeElement && document.activeElement.closest && document.activeElement.closest("[data-order-id]");
    return row && board.contains(row) ? row.getAttribute("data-order-id") : null;
  }

  async function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    try {
      const response = await fetch(board.getAttribute("data-fragment"), { credentials: "same-origin" });
      if (response.status === 401) { window.location.reload(); return; }
      if (response.ok) {
        const html = await response.text();
        const focused = focusedOrder();
        board.innerHTML = html;
        if (focused) {
          const link = board.querySelector(`[data-order-id="${focused}"] a`);
          if (link) link.focus();
        }
        if (window.fsTickCountdowns) window.fsTickCountdowns();
      }
    } catch (_) {
      // The stream's own error handler shows the notice; the next event retries.
    } finally {
      loading = false;
      if (again) { again = false; refresh(); }
    }
  }

  let dropped = false;
  const source = new EventSource(board.getAttribute("data-events"));
  source.addEventListener("refresh", refresh);
  source.addEventListener("open", () => {
    offline.hidden = true;
    if (dropped) { dropped = false; refresh(); }
  });
  source.addEventListener("error", () => {
    offline.hidden = false;
    dropped = true;
  });
})();
