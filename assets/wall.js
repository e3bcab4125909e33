// The wall, live: the server sends a content-free `change` event when something is
// issued, printed or signed; the wall then fetches its live fragment again. Times such
// as "2 min ago" are recomputed here every 15 seconds against the server's clock, so
// they stay true between changes. The event stream reconnects by itself.
"use strict";
(() => {
  const box = document.getElementById("wall-live");
  if (!box) return;
  let skew = 0; // server clock minus this clock, in seconds

  function readClock() {
    const now = Number(box.querySelector("[data-now]")?.dataset.now);
    if (now) skew = now - Date.now() / 1000;
  }

  // The same words as `clock::ago` on the server.
  function ago(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return "just now";
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    if (s < 172800) return "1 day ago";
    return `${Math.floor(s / 86400)} days ago`;
  }

  function tick() {
    const now = Date.now() / 1000 + skew;
    for (const t of box.querySelectorAll("time[data-at]")) {
      t.textContent = ago(now - Number(t.dataset.at));
    }
  }

  let queued = null;
  async function reload() {
    queued = null;
    try {
      const res = await fetch("/wall/live", { cache: "no-store" });
      if (!res.ok) return;
      box.innerHTML = await res.text();
    } catch {
      return;
    }
    readClock();
    tick();
  }
  // Bursts (an issuance and its ticket) become one fetch.
  function soon() {
    if (!queued) queued = setTimeout(reload, 250);
  }

  const events = new EventSource("/wall/events");
  events.addEventListener("open", soon);
  events.addEventListener("change", soon);
  events.addEventListener("resync", soon);
  readClock();
  setInterval(tick, 15000);
})();
