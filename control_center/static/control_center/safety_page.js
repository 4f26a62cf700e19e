// The Safety page (templates/control_center/safety.html): rows follow safety_alert events
// live (operator_live.js). The server renders each row; this script only puts changed
// rows in place, keeping what an operator is typing and which message lists are open.
(function () {
  const page = document.getElementById("safety-page");
  if (!page || !window.ccLive) return;
  const body = document.getElementById("safety-alerts").tBodies[0];

  function fromHtml(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }
  function carryOver(old, fresh) {
    const openBefore = old.querySelector("details");
    const openNow = fresh.querySelector("details");
    if (openBefore && openNow) openNow.open = openBefore.open;
    ["select[name=action]", "input[name=note]"].forEach(selector => {
      const before = old.querySelector(selector);
      const now = fresh.querySelector(selector);
      if (before && now && before.value) now.value = before.value;
    });
  }
  function emptyRow() {
    const row = document.createElement("tr");
    row.dataset.empty = "";
    const cell = document.createElement("td");
    cell.colSpan = 7;
    cell.textContent = "No alerts.";
    row.appendChild(cell);
    return row;
  }

  async function refresh() {
    const response = await fetch(page.dataset.liveUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}});
    if (!response.ok) return false;
    const data = await response.json();
    const shown = new Map([...body.querySelectorAll("tr[data-alert]")].map(row => [row.dataset.alert, row]));
    const rows = data.rows.map(item => {
      const old = shown.get(item.id);
      if (old && old.dataset.version === item.version) return old;
      const fresh = fromHtml(item.html);
      if (old) carryOver(old, fresh); else fresh.classList.add("cc-new");
      return fresh;
    });
    if (!rows.length) rows.push(body.querySelector("tr[data-empty]") || emptyRow());
    // move only what moved: an unchanged row keeps its focus and input
    rows.forEach((row, index) => {
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    });
    while (body.children.length > rows.length) body.lastElementChild.remove();
    document.getElementById("open-alert-count").textContent = data.open_alerts;
    document.getElementById("result-count").textContent = data.result_count;
    return true;
  }

  window.ccLive.follow({
    events: ["safety_alert"], refresh, pollSeconds: Number(page.dataset.pollSeconds) || 15,
    status: document.getElementById("live-status"),
  });
})();
