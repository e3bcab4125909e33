// The staff console stays current without reloading: on every event from
// /staff/events (server-sent events; EventSource reconnects by itself) it fetches the
// live part again with the page's own query. Without JavaScript, "Refresh" does this.
(function () {
  'use strict';
  var live = document.getElementById('live');
  if (!live || !window.EventSource || !window.fetch) return;
  var timer = null;
  var busy = false;
  var again = false;
  var shown = null;
  var opened = false;

  // What the focused control does, to focus the same control after the swap.
  function keyOf(el) {
    if (!el || !live.contains(el)) return null;
    var form = el.closest('form');
    if (form) return 'form:' + form.getAttribute('action');
    return el.getAttribute('href') ? 'href:' + el.getAttribute('href') : null;
  }

  function restore(key) {
    if (!key) return;
    var els = live.querySelectorAll(key.indexOf('form:') === 0 ? 'form' : 'a[href]');
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var k = el.tagName === 'FORM' ? 'form:' + el.getAttribute('action') : 'href:' + el.getAttribute('href');
      if (k === key) {
        (el.tagName === 'FORM' ? el.querySelector('button') : el).focus();
        return;
      }
    }
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(live.getAttribute('data-live') + window.location.search, { credentials: 'same-origin' })
      .then(function (r) {
        if (r.status === 200) return r.text();
        if (r.status === 401 || r.status === 403) window.location.reload();
        return null;
      })
      .then(function (html) {
        if (html === null) return;
        // Leave the page alone when only the "Updated" time changed: nothing moves
        // under a pointer or the keyboard focus for nothing.
        var content = html.replace(/<p class="staff-updated[\s\S]*?<\/p>/, '');
        if (content === shown) {
          var stamp = live.querySelector('.staff-updated span');
          var fresh = /<span>([^<]*)<\/span>/.exec(html);
          if (stamp && fresh) stamp.textContent = fresh[1];
          return;
        }
        shown = content;
        var key = keyOf(document.activeElement);
        live.innerHTML = html;
        restore(key);
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; schedule(); }
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  var events = new EventSource('/staff/events');
  ['visitor', 'job', 'printer', 'resync'].forEach(function (kind) {
    events.addEventListener(kind, schedule);
  });
  // After a reconnect (not the first connection: the page is fresh then), catch up on
  // what happened meanwhile.
  events.addEventListener('open', function () {
    if (opened) schedule();
    opened = true;
  });
})();
