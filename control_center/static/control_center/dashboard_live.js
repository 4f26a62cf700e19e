// The Dashboard's open safety alerts and reports, kept current by safety_alert events
// (operator_live.js) and a slow poll of safety/counts.json.
(function () {
  const cards = document.getElementById("dashboard-cards");
  if (!cards || !window.ccLive) return;
  function show(id, count) {
    const link = document.getElementById(id + "-count");
    link.textContent = count;
    document.getElementById(id + "-card").classList.toggle("cc-attention", count > 0);
  }
  async function refresh() {
    const response = await fetch(cards.dataset.countsUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}});
    if (!response.ok) return false;
    const data = await response.json();
    show("open-alerts", data.open_alerts);
    show("open-reports", data.open_reports);
    return true;
  }
  window.ccLive.follow({
    events: ["safety_alert"], refresh, pollSeconds: Number(cards.dataset.pollSeconds) || 15,
    status: document.getElementById("live-status"),
  });
})();
