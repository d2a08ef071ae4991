// perdure dashboard: live refresh of the instance list, copy buttons, JSON checks.
// Everything inserted comes from the server as escaped HTML; nothing is built from data here.
"use strict";
(function () {
  const button = document.getElementById("live");
  const rows = document.getElementById("rows");
  if (button && rows) {
    const interval = Number(button.dataset.interval) || 3000;
    const state = document.getElementById("live-state");
    let timer = null;
    const refresh = async () => {
      const src = rows.dataset.src;
      const url = src + (src.includes("?") ? "&" : "?") + "fragment=rows";
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
        if (response.ok) { rows.innerHTML = await response.text(); rows.dataset.refreshed = String(Date.now()); }
      } catch (e) { /* offline for a moment: try again next tick */ }
    };
    const start = () => { timer = setInterval(refresh, interval); button.setAttribute("aria-pressed", "true");
      button.textContent = "Pause live refresh"; state.textContent = "Live: refreshing every " + interval / 1000 + " s"; };
    const stop = () => { clearInterval(timer); timer = null; button.setAttribute("aria-pressed", "false");
      button.textContent = "Resume live refresh"; state.textContent = "Live refresh paused"; };
    button.addEventListener("click", () => (timer ? stop() : start()));
    start();
  }
  const more = document.querySelector("form[data-auto-continue]");
  if (more) {
    const next = setTimeout(() => more.submit(), 300);
    more.querySelector("[data-cancel]").addEventListener("click", () => {
      clearTimeout(next);
      document.getElementById("bulk-progress").insertAdjacentText("beforeend", " Cancelled.");
      more.remove();
    });
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
