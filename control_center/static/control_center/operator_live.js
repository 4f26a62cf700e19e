// Live updates for control-center pages: one websocket to /ws/operator/ (signed in by
// the page's session cookie), reconnecting with backoff, plus a slow poll of the page's
// JSON view in case the socket is down or an event was lost. A page calls
//   ccLive.follow({events: ["safety_alert"], refresh, pollSeconds, status})
// and `refresh(reason)` runs on a matching event, when the socket (re)connects (to catch
// up on what it missed) and every `pollSeconds`; never two at once (one more follows).
// A file, not an inline script: control-center pages run under a CSP without 'unsafe-inline'.
(function () {
  if (window.ccLive) return;
  const eventListeners = [];
  const statusListeners = [];
  let socket = null;
  let connected = null;  // null until the first attempt has answered
  let attempts = 0;
  let stopped = false;

  function socketUrl() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/operator/";
  }
  function setConnected(value) {
    connected = value;
    statusListeners.forEach(listener => listener(value));
  }
  function connect() {
    try {
      socket = new WebSocket(socketUrl());
    } catch (e) {
      reconnectLater();
      return;
    }
    socket.addEventListener("open", () => { attempts = 0; setConnected(true); });
    socket.addEventListener("message", message => {
      let event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      eventListeners.forEach(listener => listener(event));
    });
    socket.addEventListener("close", close => {
      socket = null;
      if (connected) setConnected(false);
      // 4401/4403: signed out or not an operator; the poll (and the login redirect) take over
      if (close.code === 4401 || close.code === 4403) { stopped = true; setConnected(false); return; }
      reconnectLater();
    });
  }
  function reconnectLater() {
    if (stopped) return;
    const delay = Math.min(30000, 1000 * 2 ** attempts) * (0.75 + Math.random() / 2);
    attempts += 1;
    if (attempts === 1 || connected === null) setConnected(false);
    setTimeout(connect, delay);
  }
  function start() {
    if (!socket && !stopped) connect();
  }

  function clock(timeZone) {
    // the operators' zone, as the page's own times (an unknown zone: the browser's)
    try {
      return new Date().toLocaleTimeString([], {timeZone: timeZone || undefined, hour12: false});
    } catch (e) {
      return new Date().toLocaleTimeString();
    }
  }

  function follow({events, refresh, pollSeconds, status}) {
    let running = false;
    let again = null;
    async function run(reason) {
      if (running) { again = reason; return; }
      running = true;
      try {
        const ok = await refresh(reason);
        if (status && ok !== false) status.dataset.updated = clock(status.dataset.timeZone);
      } catch (e) {
        /* the next event or poll tries again */
      } finally {
        running = false;
        describe();
        if (again !== null) { const next = again; again = null; run(next); }
      }
    }
    function describe() {
      if (!status) return;
      const updated = status.dataset.updated ? " Updated " + status.dataset.updated + "." : "";
      if (connected === null) {
        status.textContent = "Connecting live updates…" + updated;
        return;
      }
      status.textContent = connected
        ? "Live updates on." + updated
        : "Live updates unavailable: refreshing every " + pollSeconds + " s." + updated;
      status.dataset.live = connected ? "on" : "off";
    }
    eventListeners.push(event => { if (events.includes(event.type)) run("event"); });
    statusListeners.push(up => { describe(); if (up) run("connected"); });
    setInterval(() => run("poll"), Math.max(1, pollSeconds) * 1000);
    describe();
    start();
  }

  window.ccLive = {follow};
})();
