// The booth screen keeps nothing of a visitor. "Done" blanks the screen first and
// replaces this page in the history with the empty form, so Back finds nothing; a page
// brought back from the browser's back/forward cache is fetched again; a form page
// that answered a POST (a typo to fix) becomes a plain "/" in the history, so Back can
// never offer to send a visitor's form again; a handoff left any other way, or left
// idle, ends by itself.
"use strict";
(() => {
  addEventListener("pageshow", (e) => {
    if (e.persisted) location.reload();
  });
  const form = document.getElementById("done-form");
  if (!form) {
    history.replaceState(null, "", "/");
    return;
  }
  let leaving = false;
  async function done() {
    if (leaving) return;
    leaving = true;
    const body = new URLSearchParams(new FormData(form));
    document.querySelector("main").replaceChildren();
    document.title = "certstamp";
    try {
      await fetch(form.action, { method: "POST", body, redirect: "manual" });
    } catch {
      // The handoff expires by itself.
    }
    location.replace("/");
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    done();
  });
  // Leaving any other way (the header's link, an address typed in) ends the handoff
  // too, so Back cannot bring it back; the page reloading itself does not.
  addEventListener("pagehide", () => {
    if (leaving || document.documentElement.dataset.reloading) return;
    navigator.sendBeacon(form.action, new URLSearchParams(new FormData(form)));
  });
  const after = Number(form.dataset.autoDone || 0);
  if (after > 0) setTimeout(done, after * 1000);
})();
