// Keeps the page live: fetches its fragment again every few seconds and
// sends actions without a reload. The server escapes every text it renders.
(function () {
  "use strict";
  const live = document.getElementById("live");
  const status = document.getElementById("status");
  const liveState = document.getElementById("live-state");
  if (!live) return;
  const every = Number(live.dataset.refresh) || 2000;

  function typing() {
    const el = document.activeElement;
    return el && live.contains(el) && el.tagName === "INPUT" && el.type === "text" && el.value !== "";
  }

  async function refresh() {
    if (typing()) return;
    const checked = new Set(
      Array.from(live.querySelectorAll("input[type=checkbox][name=job]:checked")).map((box) => box.value)
    );
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
    if (typing()) return;
    live.innerHTML = html;
    live.querySelectorAll("input[type=checkbox][name=job]").forEach((box) => {
      box.checked = checked.has(box.value);
    });
    liveState.textContent = "live · updated " + new Date().toLocaleTimeString();
  }

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
    document.activeElement.blur();
    await refresh();
  });

  setInterval(refresh, every);
  liveState.textContent = "live";
})();
