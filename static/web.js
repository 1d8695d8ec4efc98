// Small conveniences for the staff pages; every form also works without this file.
"use strict";

// <form data-confirm="text">: ask before submitting (the server still checks everything).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const text = form.getAttribute("data-confirm");
  if (text && !window.confirm(text)) event.preventDefault();
});

// <button data-copy="text">: copy to the clipboard.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) return;
  navigator.clipboard.writeText(button.getAttribute("data-copy")).then(() => {
    const label = button.textContent;
    button.textContent = button.getAttribute("data-copied") || "✓";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

// <span class="countdown" data-left="seconds">: time left, m:ss, ticking every second. Counted from when
// the element was rendered, so a wrong clock on this computer does not matter.
const countdownStart = new WeakMap();
function tickCountdowns() {
  const now = Date.now();
  document.querySelectorAll(".countdown[data-left]").forEach((el) => {
    if (!countdownStart.has(el)) countdownStart.set(el, now);
    const left = Math.max(0, Number(el.getAttribute("data-left")) - Math.floor((now - countdownStart.get(el)) / 1000));
    el.textContent = left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` : (el.getAttribute("data-expired") || "0:00");
    el.classList.toggle("low", left <= 30);
  });
}
tickCountdowns();
setInterval(tickCountdowns, 1000);
window.fsTickCountdowns = tickCountdowns;

// <input data-filter-list="id">: show only the items of list `id` whose text contains what is typed. The box
// stays hidden without JavaScript, where the whole list scrolls.
document.querySelectorAll("input[data-filter-list]").forEach((box) => {
  const list = document.getElementById(box.getAttribute("data-filter-list"));
  if (!list) return;
  box.hidden = false;
  box.addEventListener("input", () => {
    const needle = box.value.trim().toLocaleLowerCase();
    list.querySelectorAll("li").forEach((item) => {
      item.hidden = needle !== "" && !item.textContent.toLocaleLowerCase().includes(needle);
    });
  });
});

// The top bar's administration menu closes when something else is clicked.
document.addEventListener("click", (event) => {
  document.querySelectorAll("details.nav-group[open]").forEach((menu) => {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});
