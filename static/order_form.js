// The new-order form's conveniences: districts, slots and the working-hours warning follow the chosen city,
// and the street field suggests the city's streets (fuzzy). Without this script the "choose city" button
// and the server's own street matching do the same.
(function () {
  'use strict';
  var form = document.getElementById('order-form');
  if (!form) return;
  var city = document.getElementById('city_id');
  var district = document.getElementById('district_id');
  var districtBox = document.getElementById('district-box');
  var citywide = document.getElementById('citywide-note');
  var slot = document.getElementById('slot');
  var notice = document.getElementById('hours-notice');
  var zone = document.getElementById('city-zone');
  var chooseCity = document.getElementById('choose-city');
  var street = document.getElementById('street');
  var streetId = document.getElementById('street_id');
  var list = document.getElementById('street-suggestions');
  if (chooseCity) chooseCity.hidden = true;

  function option(value, text) {
    var o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    return o;
  }

  function getJson(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    });
  }

  city.addEventListener('change', function () {
    getJson('/orders/new/options?city_id=' + encodeURIComponent(city.value)).then(function (data) {
      // A city without districts searches city-wide: no district to choose (decisions D-20).
      district.replaceChildren(option('', district.dataset.choose));
      data.districts.forEach(function (d) { district.appendChild(option(d.id, d.name)); });
      if (district.dataset.none) district.appendChild(option('none', district.dataset.none));
      district.required = data.districts.length > 0;
      districtBox.hidden = data.districts.length === 0;
      citywide.hidden = data.districts.length > 0;
      slot.replaceChildren();
      data.slots.forEach(function (s) { slot.appendChild(option(s.id, s.name)); });
      notice.textContent = data.notice || '';
      notice.hidden = !data.notice;
      if (zone) zone.textContent = zone.textContent.replace(/:.*$/, ': ' + data.zone);
      if (street) { street.value = ''; clearPick(); hide(); }
    }).catch(function () { if (chooseCity) chooseCity.hidden = false; });
  });

  if (!street || !list) return;
  var timer = null;

  function clearPick() { if (streetId) streetId.value = ''; }
  function hide() { list.hidden = true; list.replaceChildren(); street.setAttribute('aria-expanded', 'false'); }

  function show(streets) {
    list.replaceChildren();
    streets.forEach(function (s) {
      var li = document.createElement('li');
      li.setAttribute('role', 'option');
      var b = document.createElement('button');
      b.type = 'button';
      b.textContent = s.name;
      b.addEventListener('click', function () {
        street.value = s.name;
        if (streetId) streetId.value = s.id;
        var manual = document.getElementById('street_manual');
        if (manual) manual.checked = false;
        hide();
        street.focus();
      });
      li.appendChild(b);
      list.appendChild(li);
    });
    list.hidden = streets.length === 0;
    street.setAttribute('aria-expanded', streets.length ? 'true' : 'false');
  }

  street.addEventListener('input', function () {
    clearPick();
    clearTimeout(timer);
    var q = street.value.trim();
    if (q.length < 2) { hide(); return; }
    timer = setTimeout(function () {
      getJson('/orders/new/streets?city_id=' + encodeURIComponent(city.value) + '&q=' + encodeURIComponent(q))
        .then(show).catch(hide);
    }, 250);
  });

  street.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowDown' && !list.hidden) {
      var first = list.querySelector('button');
      if (first) { e.preventDefault(); first.focus(); }
    } else if (e.key === 'Escape') {
      hide();
    }
  });

  list.addEventListener('keydown', function (e) {
    var buttons = Array.prototype.slice.call(list.querySelectorAll('button'));
    var i = buttons.indexOf(document.activeElement);
    if (e.key === 'ArrowDown' && i < buttons.length - 1) { e.preventDefault(); buttons[i + 1].focus(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); (i > 0 ? buttons[i - 1] : street).focus(); }
    else if (e.key === 'Escape') { hide(); street.focus(); }
  });

  document.addEventListener('click', function (e) {
    if (e.target !== street && !list.contains(e.target)) hide();
  });
})();

// The client's history: once the phone is complete, his other orders (in the caller's cities) appear
// under it, fetched as a fragment. Without this script the order card shows the same history.
(function () {
  'use strict';
  var phone = document.getElementById('client_phone');
  var box = document.getElementById('client-history-box');
  if (!phone || !box) return;
  var shown = null;
  function load() {
    var digits = phone.value.replace(/\D/g, '');
    if (digits.length < 10) { box.replaceChildren(); shown = null; return; }
    if (digits === shown) return;
    shown = digits;
    fetch('/orders/new/client?phone=' + encodeURIComponent(phone.value), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : ''; })
      .then(function (html) { if (shown === digits) box.innerHTML = html; })
      .catch(function () { box.replaceChildren(); });
  }
  phone.addEventListener('input', load);
  phone.addEventListener('change', load);
  load();
})();
