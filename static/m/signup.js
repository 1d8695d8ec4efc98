// The sign-up questionnaire as a wizard (templates/m/signup.html): one step at a time with Back/Next, the
// answers of a step checked before moving on — required ones here, the rest by the server's own rules
// (POST /m/signup/check) — and a draft of the typed answers (never the
// password or the files) kept in localStorage under the invite, so a reload or a lost connection loses
// nothing. Without this script the form still works: all steps show and one button sends them.
(function () {
  'use strict';

  var form = document.getElementById('signup');
  if (!form) { return; }
  var steps = Array.prototype.slice.call(form.querySelectorAll('fieldset.step'));
  var nav = document.getElementById('wizard-nav');
  var back = document.getElementById('back');
  var next = document.getElementById('next');
  var bar = document.getElementById('progress-bar');
  var summary = document.getElementById('summary');
  var payoutMethod = document.getElementById('payout_method');
  var payoutData = document.getElementById('payout_data');
  // No key: the form opens with what is on file and keeps no draft (a resubmission).
  var key = form.dataset.draft;
  var current = 0;

  function all(selector, root) { return Array.prototype.slice.call((root || form).querySelectorAll(selector)); }

  // Answers kept in the draft: typed text, choices, ticks; never the token, the password or files.
  function kept() {
    return all('input, select').filter(function (el) {
      return el.id && ['hidden', 'password', 'file'].indexOf(el.type) < 0;
    });
  }

  function save() {
    if (!key) { return; }
    var draft = { step: current, values: {}, checked: {} };
    kept().forEach(function (el) {
      if (el.type === 'checkbox' || el.type === 'radio') { draft.checked[el.id] = el.checked; } else { draft.values[el.id] = el.value; }
    });
    try { localStorage.setItem(key, JSON.stringify(draft)); } catch (e) { /* full or private: no draft */ }
  }

  function load() {
    if (!key) { return null; }
    try { return JSON.parse(localStorage.getItem(key) || 'null'); } catch (e) { return null; }
  }

  function restore(draft) {
    kept().forEach(function (el) {
      if (el.type === 'checkbox' || el.type === 'radio') {
        if (el.id in draft.checked) { el.checked = draft.checked[el.id]; }
      } else if (el.id in draft.values) {
        el.value = draft.values[el.id];
      }
    });
  }

  // --- checks of the required answers (the rules themselves are checked by the server) ---

  // Clears the step's refusals, the server's of a refused sending too: the step is being checked again.
  function clearClientErrors(step) {
    all('.field-error', step).forEach(function (p) { p.remove(); });
    all('[data-client-invalid]', step).forEach(function (el) {
      el.setAttribute('aria-invalid', 'false');
      el.removeAttribute('data-client-invalid');
    });
  }

  // Marks `el` unanswered with `text` shown right after `after` (or at the end of the group `el`).
  function flag(el, after, text) {
    var p = document.createElement('p');
    p.className = 'field-error';
    p.setAttribute('data-client', '');
    p.id = (el.id || el.name) + '-client-error';
    p.textContent = text;
    if (after) { after.parentNode.insertBefore(p, after.nextSibling); } else { el.appendChild(p); }
    el.setAttribute('aria-invalid', 'true');
    el.setAttribute('data-client-invalid', '');
    if (after) { el.setAttribute('aria-describedby', ((el.getAttribute('aria-describedby') || '').replace(p.id, '') + ' ' + p.id).trim()); }
  }

  function missing(el) {
    if (el.type === 'checkbox') { return !el.checked; }
    if (el.type === 'radio') { return !all('input[name="' + el.name + '"]').some(function (r) { return r.checked; }); }
    if (el.type === 'file') { return !el.files || el.files.length === 0; }
    return el.value.trim() === '';
  }

  // Flags the step's unanswered required questions; returns the first one to focus, or null.
  function check(step) {
    clearClientErrors(step);
    var first = null;
    var radioGroups = {};
    all('[required]', step).forEach(function (el) {
      if (el.type === 'radio') {
        if (radioGroups[el.name]) { return; }
        radioGroups[el.name] = true;
        if (missing(el)) {
          flag(el.closest('fieldset.group'), null, form.dataset.choose);
          first = first || el;
        }
        return;
      }
      if (missing(el)) {
        flag(el, el.type === 'checkbox' ? el.closest('label') : el, form.dataset.required);
        first = first || el;
      }
    });
    all('[data-group-required]', step).forEach(function (group) {
      if (!all('input[type="checkbox"]', group).some(function (c) { return c.checked; })) {
        flag(group, null, form.dataset.choose);
        first = first || group.querySelector('input');
      }
    });
    return first;
  }

  // --- the wizard ---

  function show(i) {
    current = Math.max(0, Math.min(steps.length - 1, i));
    steps.forEach(function (s, k) { s.classList.toggle('current', k === current); });
    form.classList.toggle('first', current === 0);
    form.classList.toggle('last', current === steps.length - 1);
    bar.value = current + 1;
    bar.textContent = form.dataset.stepText.replace('{k}', current + 1).replace('{n}', steps.length);
    if (current === steps.length - 1) { fillSummary(); }
  }

  function go(i) {
    show(i);
    save();
    var step = steps[current];
    step.setAttribute('tabindex', '-1');
    step.focus({ preventScroll: true });
    step.scrollIntoView({ block: 'start' });
  }

  function textOf(el) { return el ? el.textContent.replace(/\s+/g, ' ').trim() : ''; }

  // A field's label without its "(optional)" note.
  function labelOf(el) {
    var label = form.querySelector('label[for="' + el.id + '"]').cloneNode(true);
    all('.muted', label).forEach(function (m) { m.remove(); });
    return textOf(label);
  }

  function masked(method, value) {
    var digits = value.replace(/\D/g, '');
    return (method === 'CARD' || method === 'BANK_ACCOUNT') && digits.length >= 4 ? '*' + digits.slice(-4) : value;
  }

  function fillSummary() {
    var none = form.dataset.none;
    summary.textContent = '';
    function row(term, detail) {
      var dt = document.createElement('dt');
      var dd = document.createElement('dd');
      dt.textContent = term;
      dd.textContent = detail || none;
      summary.appendChild(dt);
      summary.appendChild(dd);
    }
    steps.slice(0, -1).forEach(function (step) {
      all('input, select', step).forEach(function (el) {
        if (el.type === 'hidden' || el.type === 'checkbox' || el.type === 'radio' || el.type === 'password') { return; }
        if (el.type === 'file') { row(labelOf(el), el.files && el.files.length ? el.files[0].name : (el.dataset.kept || '')); return; }
        if (el.tagName === 'SELECT') { row(labelOf(el), el.value ? textOf(el.options[el.selectedIndex]) : ''); return; }
        row(labelOf(el), el === payoutData ? masked(payoutMethod.value, el.value.trim()) : el.value.trim());
      });
      var city = step.querySelector('#city-name');
      if (city) { row(city.dataset.label, textOf(city)); }
      all('fieldset.group', step).forEach(function (group) {
        var chosen = all('input:checked', group).map(function (c) { return textOf(c.closest('label')); });
        row(textOf(group.querySelector('legend')), chosen.join(', '));
      });
    });
  }

  function showHints() {
    var method = payoutMethod.value;
    all('#payout_data-hint li').forEach(function (li) { li.hidden = method !== '' && li.dataset.method !== method; });
    payoutData.inputMode = method === 'CARD' || method === 'BANK_ACCOUNT' ? 'numeric' : (method === 'SBP' ? 'tel' : 'text');
  }

  function firstInvalidStep() {
    for (var k = 0; k < steps.length; k++) {
      if (check(steps[k])) { return k; }
    }
    return -1;
  }

  function point(el) {
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: 'center' });
  }

  // The step's typed answers checked by the server's rules; resolves to the first refused field, or null.
  // Without a connection the step goes on: the sending checks everything again.
  function serverCheck(step) {
    var fields = all('input, select', step).filter(function (el) {
      return el.name && ['file', 'checkbox', 'radio', 'hidden'].indexOf(el.type) < 0;
    });
    if (!fields.length || !form.dataset.check || !window.fetch) { return Promise.resolve(null); }
    var body = new URLSearchParams();
    fields.forEach(function (el) { body.append(el.name, el.value); });
    next.disabled = true;
    return fetch(form.dataset.check, { method: 'POST', body: body, credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : { errors: [] }; })
      .catch(function () { return { errors: [] }; })
      .then(function (answer) {
        next.disabled = false;
        var first = null;
        answer.errors.forEach(function (e) {
          var el = step.querySelector('[name="' + e.field + '"]');
          if (!el) { return; }
          flag(el, el, e.message);
          first = first || el;
        });
        return first;
      });
  }

  next.addEventListener('click', function () {
    var step = steps[current];
    var bad = check(step);
    if (bad) { point(bad); return; }
    serverCheck(step).then(function (refused) {
      if (refused) { point(refused); } else { go(current + 1); }
    });
  });
  back.addEventListener('click', function () { go(current - 1); });

  form.addEventListener('keydown', function (event) {
    var el = event.target;
    if (event.key === 'Enter' && el.tagName === 'INPUT' && current < steps.length - 1 && ['checkbox', 'radio', 'file'].indexOf(el.type) < 0) {
      event.preventDefault();
      next.click();
    }
  });

  // Typing into a refused field takes its refusal away at once, so the layout does not shift later under
  // the thumb that is reaching for "Next" (the change event comes on that very tap).
  form.addEventListener('input', function (event) {
    var el = event.target;
    var refusal = el.id && document.getElementById(el.id + '-client-error');
    if (refusal) {
      refusal.remove();
      el.setAttribute('aria-invalid', 'false');
      el.removeAttribute('data-client-invalid');
    }
    save();
  });
  form.addEventListener('change', function (event) {
    if (event.target === payoutMethod) { showHints(); }
    var step = event.target.closest('fieldset.step');
    if (step && step.querySelector('[data-client]')) { check(step); }
    save();
  });

  form.addEventListener('submit', function (event) {
    var k = firstInvalidStep();
    if (k >= 0) {
      event.preventDefault();
      show(k);
      var bad = check(steps[k]);
      if (bad) { point(bad); }
      return;
    }
    var submit = document.getElementById('signup-submit');
    submit.disabled = true;
    submit.textContent = form.dataset.sending;
  });

  // The home point: "use my location" fills the coordinates in; typing them is behind "enter coordinates".
  var locate = document.getElementById('locate');
  var manual = document.getElementById('manual-coords');
  if (navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener('click', function () {
      var home = document.getElementById('home_location');
      var found = document.getElementById('located');
      var old = document.getElementById('locate-failed');
      if (old) { old.remove(); }
      navigator.geolocation.getCurrentPosition(function (pos) {
        home.value = pos.coords.latitude.toFixed(5) + ', ' + pos.coords.longitude.toFixed(5);
        found.textContent = locate.dataset.found.replace('{coords}', home.value);
        found.hidden = false;
        save();
      }, function () {
        var p = document.createElement('p');
        p.className = 'hint';
        p.id = 'locate-failed';
        p.setAttribute('role', 'status');
        p.textContent = locate.dataset.failed;
        locate.parentNode.insertBefore(p, locate.nextSibling);
        manual.open = true;
      }, { timeout: 15000, maximumAge: 600000 });
    });
  } else {
    manual.open = true;
  }

  // Start: a form sent back with refusals opens at the step of the first one; a fresh form takes up its
  // draft where it was left.
  form.noValidate = true;
  form.classList.add('wizard');
  nav.hidden = false;
  bar.hidden = false;
  summary.hidden = false;
  var serverError = form.querySelector('.field-error');
  var draft = serverError ? null : load();
  if (draft) { restore(draft); }
  if (document.getElementById('home_location').value.trim() !== '') { manual.open = true; }
  showHints();
  if (serverError) {
    show(steps.indexOf(serverError.closest('fieldset.step')));
  } else {
    show(draft ? draft.step || 0 : 0);
  }
  save();
}());
