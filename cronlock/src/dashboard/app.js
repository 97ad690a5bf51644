// Keeps the page live: fetches its fragment again every few seconds and
// sends actions without a reload. The server escapes every text it renders.
// A refresh keeps what the user is doing: ticked boxes, typed notes and the
// focused control survive it; nothing is fetched while the tab is hidden.
(function () {
  "use strict";
  const live = document.getElementById("live");
  const status = document.getElementById("status");
  const liveState = document.getElementById("live-state");
  if (!live) return;
  const every = Number(live.dataset.refresh) || 2000;
  let sequence = 0;
  let timer = null;

  // What identifies a control across refreshes: its row, name and value.
  function key(el) {
    const row = el.closest("tr[data-job]");
    const form = el.closest("form");
    return [row ? row.dataset.job : "", form ? form.id : "", el.tagName, el.name || "", el.type === "text" ? "" : el.value || ""].join("\u0000");
  }

  function controls() {
    return Array.from(live.querySelectorAll("input, button, a"));
  }

  function snapshot() {
    const focused = document.activeElement && live.contains(document.activeElement) ? key(document.activeElement) : null;
    const texts = new Map();
    const checked = new Set();
    let selection = null;
    for (const el of controls()) {
      if (el.type === "text" && el.value) texts.set(key(el), el.value);
      if (el.type === "checkbox" && el.checked) checked.add(key(el));
    }
    if (focused && document.activeElement.type === "text") {
      selection = [document.activeElement.selectionStart, document.activeElement.selectionEnd];
    }
    return { focused, texts, checked, selection };
  }

  function restore(state) {
    for (const el of controls()) {
      const k = key(el);
      if (el.type === "text" && state.texts.has(k)) el.value = state.texts.get(k);
      if (el.type === "checkbox") el.checked = state.checked.has(k);
      if (k === state.focused) {
        el.focus();
        if (state.selection && el.type === "text") el.setSelectionRange(state.selection[0], state.selection[1]);
      }
    }
  }

  async function refresh() {
    const mine = ++sequence;
    let response;
    try {
      response = await fetch(live.dataset.src, { headers: { "x-cronlock-fetch": "1" }, cache: "no-store" });
    } catch (err) {
      liveState.textContent = "offline: retrying";
      return;
    }
    if (response.status === 401) {
      liveState.textContent = "signed out: reload the page";
      return;
    }
    const html = await response.text();
    // A newer refresh (after an action) already answered.
    if (mine !== sequence) return;
    const state = snapshot();
    live.innerHTML = html;
    restore(state);
    liveState.textContent = "live · updated " + new Date().toLocaleTimeString();
  }

  // One refresh at a time: the next is scheduled when this one is done.
  async function tick() {
    timer = null;
    if (!document.hidden) await refresh();
    timer = setTimeout(tick, every);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && timer !== null) {
      clearTimeout(timer);
      tick();
    }
  });

  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-select-all]")) {
      live.querySelectorAll("input[type=checkbox][name=job]").forEach((box) => {
        box.checked = event.target.checked;
      });
    }
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.matches("form[data-action]")) return;
    event.preventDefault();
    const data = new FormData(form, event.submitter);
    status.classList.remove("bad");
    status.textContent = "working…";
    try {
      // getAttribute: `form.action` would be the button named "action".
      const response = await fetch(form.getAttribute("action"), {
        method: "POST",
        body: new URLSearchParams(data),
        headers: { "x-cronlock-fetch": "1" },
      });
      status.textContent = (await response.text()).trim();
      if (!response.ok) status.classList.add("bad");
    } catch (err) {
      status.textContent = "the dashboard did not answer";
      status.classList.add("bad");
    }
    form.querySelectorAll("input[type=text]").forEach((input) => {
      input.value = "";
    });
    await refresh();
  });

  timer = setTimeout(tick, every);
  liveState.textContent = "live";
})();
