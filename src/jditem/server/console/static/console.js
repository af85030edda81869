// jditem console: progressive enhancements only (every page works without JS).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: <button data-copy="#element-id">
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      if (!source) return;
      const text = source.textContent.trim();
      try {
        await navigator.clipboard.writeText(text);
      } catch (_err) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        document.execCommand("copy");
      }
      button.textContent = "Copied";
    });
  });

  // Live progress of a bulk job: <section data-progress-url="...json">
  const live = document.querySelector("[data-progress-url]");
  if (live) {
    const url = live.dataset.progressUrl;
    let polls = 0;
    const tick = async () => {
      polls += 1;
      let state;
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok) return;
        state = await response.json();
      } catch (_err) {
        return;
      }
      for (const [key, value] of Object.entries(state.counts || {})) {
        const cell = live.querySelector(`[data-count="${key}"]`);
        if (cell) cell.textContent = value;
      }
      const bar = live.querySelector(".progress > div");
      if (bar) bar.style.width = `${state.percent}%`;
      const status = live.querySelector("[data-status]");
      if (status) {
        status.textContent = state.status;
        status.className = `badge ${state.status}`;
      }
      if (state.finished) {
        window.location.reload();
        return;
      }
      if (polls < 3600) window.setTimeout(tick, 1000);
    };
    if (live.dataset.finished !== "true") window.setTimeout(tick, 1000);
  }
});
