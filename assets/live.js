// The certificate page and the booth screen's handoff page, kept true without reloading:
// the server sends an event when this visitor's certificate or ticket changes, and the
// page asks for the JSON status. The browser reconnects the event stream by itself;
// after each (re)connection the page asks once, so nothing missed in between is lost.
"use strict";
(() => {
  const root = document.querySelector("[data-live]");
  if (!root) return;
  const shown = root.dataset.certificate;
  const box = document.getElementById("print-status");
  const button = document.getElementById("print-button");
  const form = document.getElementById("print-form");
  const tones = { printed: "ok", failed: "bad", interrupted: "bad", cancelled: "bad" };

  async function refresh() {
    let status;
    try {
      const res = await fetch(root.dataset.status, { cache: "no-store", headers: { Accept: "application/json" } });
      if (!res.ok) return;
      status = await res.json();
    } catch {
      return;
    }
    if (status.certificate && status.certificate !== shown) {
      // Issued (or failed) since this page was drawn: the whole page changes. (The
      // booth screen's script must not take this for leaving.)
      document.documentElement.dataset.reloading = "1";
      location.reload();
      return;
    }
    const job = status.job;
    if (!job || !box) return;
    box.textContent = job.message;
    box.className = "notice " + (tones[job.state] || "");
    box.hidden = false;
    if (button) {
      button.textContent = "Print it again";
      button.classList.add("secondary");
    }
  }

  const events = new EventSource(root.dataset.events);
  events.addEventListener("open", refresh);
  events.addEventListener("job", refresh);
  events.addEventListener("visitor", refresh);
  events.addEventListener("resync", refresh);

  if (form && button) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      button.disabled = true;
      let res;
      try {
        res = await fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)), redirect: "manual" });
      } catch {
        // The status below says what happened.
      }
      if (res && res.status >= 400) {
        // Refused (say, the printer picked stopped serving): show the server's page.
        form.submit();
        return;
      }
      button.disabled = false;
      refresh();
    });
  }
})();
