// perdure dashboard: live refresh of the instance list and its counts, progress of a
// bulk job, copy buttons, JSON checks. Everything inserted comes from the server as
// escaped HTML (parsed as a document, never as script); nothing is built from data here.
"use strict";
(function () {
  // The <template id=...> parts of an HTML fragment fetched from the dashboard.
  const fetchParts = async (url) => {
    const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
    if (!response.ok) return null;
    return new DOMParser().parseFromString(await response.text(), "text/html");
  };
  const swap = (target, doc, id) => {
    const part = doc.getElementById(id);
    if (target && part) target.replaceChildren(...part.content.cloneNode(true).childNodes);
  };

  const button = document.getElementById("live");
  const rows = document.getElementById("rows");
  if (button && rows) {
    const interval = Number(button.dataset.interval) || 3000;
    const state = document.getElementById("live-state");
    const chips = document.getElementById("chips");
    let timer = null;
    const refresh = async () => {
      const src = rows.dataset.src;
      try {
        const doc = await fetchParts(src + (src.includes("?") ? "&" : "?") + "fragment=live");
        if (doc && timer) {
          swap(rows, doc, "live-rows");
          swap(chips, doc, "live-chips");
          rows.dataset.refreshed = String(Date.now());
        }
      } catch (e) { /* offline for a moment: try again next tick */ }
    };
    const start = () => { timer = setInterval(refresh, interval); button.setAttribute("aria-pressed", "true");
      button.textContent = "Pause live refresh"; state.textContent = "Live: refreshing every " + interval / 1000 + " s"; };
    const stop = () => { clearInterval(timer); timer = null; button.setAttribute("aria-pressed", "false");
      button.textContent = "Resume live refresh"; state.textContent = "Live refresh paused"; };
    button.addEventListener("click", () => (timer ? stop() : start()));
    start();
  }

  const progress = document.getElementById("bulk-progress");
  if (progress && progress.dataset.state === "running") {
    const poll = async () => {
      try {
        const doc = await fetchParts(progress.dataset.src);
        const part = doc && doc.getElementById("progress-part");
        const body = part && part.content.querySelector("[data-state]");
        if (body) {
          swap(progress, doc, "progress-part");
          progress.dataset.state = body.dataset.state;
        }
      } catch (e) { /* try again */ }
      if (progress.dataset.state === "running") setTimeout(poll, 700);
      else document.querySelectorAll("[data-while-running]").forEach((el) => el.remove());
    };
    setTimeout(poll, 300);
  }

  document.querySelectorAll("[data-copy]").forEach((b) => b.addEventListener("click", () => {
    const code = b.parentElement.querySelector("pre");
    if (code && navigator.clipboard) navigator.clipboard.writeText(code.textContent).then(() => { b.textContent = "Copied"; });
  }));
  document.querySelectorAll("textarea[data-json]").forEach((area) => {
    const check = () => {
      try { if (area.value.trim()) JSON.parse(area.value); area.setCustomValidity(""); area.removeAttribute("aria-invalid"); }
      catch (e) { area.setCustomValidity("Not valid JSON: " + e.message); area.setAttribute("aria-invalid", "true"); }
    };
    area.addEventListener("input", check); check();
  });
})();
