// The control center's mitra table, refreshed every 5 s (templates/control_center/mitra_table.html).
// A file, not an inline script: control-center pages run under a CSP without 'unsafe-inline'.
(function () {
  const table = document.getElementById("mitra-table");
  if (!table) return;
  function text(value) { const span = document.createElement("span"); span.textContent = value; return span.innerHTML; }
  function account(m) {  // as the template draws it
    if (m.erased) return `<span class="cc-badge cc-erased">erased</span> <a href="${text(m.erasure_url)}">Erasure record</a>`;
    return (m.suspended ? '<span class="cc-badge cc-suspended">suspended</span> ' : "") +
      `<a href="${text(m.suspension_url)}">Suspension…</a> · <a href="${text(m.erasure_url)}">Erase…</a>`;
  }
  async function refresh() {
    try {
      const response = await fetch(table.dataset.liveUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}});
      if (!response.ok) return;
      const data = await response.json();
      const body = table.tBodies[0];
      body.innerHTML = data.mitras.length ? data.mitras.map(m =>
        `<tr data-mitra="${text(m.id)}"><td>${text(m.display_name)}</td><td>${text(m.login)}</td>` +
        `<td><span class="cc-badge cc-${text(m.status)}" data-field="status">${text(m.status)}</span></td>` +
        `<td><span class="cc-badge ${m.connected ? "cc-yes" : "cc-no"}" data-field="connected">${m.connected ? "connected" : "not connected"}</span></td>` +
        `<td data-field="load">${m.active_sessions} / ${m.capacity}</td>` +
        `<td data-field="rating">${text(m.rating_label)}</td><td data-field="rating-count">${m.rating_count}</td>` +
        `<td data-field="account">${account(m)}</td></tr>`).join("") :
        '<tr><td colspan="8">No mitras yet.</td></tr>';
      document.getElementById("mitra-refreshed").textContent = "Refreshed " + new Date().toLocaleTimeString() + " (every 5 s).";
    } catch (e) { /* next tick retries */ }
  }
  setInterval(refresh, 5000);
})();
