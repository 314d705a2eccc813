// terminal.js: the browser's side of a remote terminal session. It asks the
// API for a session, dials the relay's WebSocket with the single-use URL it
// gets, and speaks the relay's framing: the first byte of each binary
// message is 1 (data), 2 (resize: cols, rows as big-endian uint16) or 3
// (close: the reason as UTF-8).
(function () {
  "use strict";
  const FRAME_DATA = 1, FRAME_RESIZE = 2, FRAME_CLOSE = 3;
  const MAX_DATA = 32 << 10;
  const root = document.getElementById("terminal");
  if (!root || typeof Terminal === "undefined" || typeof FitAddon === "undefined") return;
  const agentID = root.dataset.agent;
  const statusEl = document.getElementById("terminal-status");
  const messageEl = document.getElementById("terminal-message");
  const reconnectBtn = document.getElementById("terminal-reconnect");
  const csrf = (JSON.parse(document.body.getAttribute("hx-headers") || "{}"))["X-CSRF-Token"] || "";
  const encoder = new TextEncoder(), decoder = new TextDecoder();

  const storedSize = parseInt(localStorage.getItem("steward.terminal.fontSize") || "", 10);
  const term = new Terminal({
    fontSize: storedSize >= 8 && storedSize <= 32 ? storedSize : 14,
    fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace',
    cursorBlink: true,
    scrollback: 5000,
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(root);
  fit.fit();

  let ws = null;
  let endReason = "";

  function setStatus(text, cls) {
    statusEl.textContent = text;
    statusEl.className = "badge " + (cls || "");
  }

  function showEnded(reason) {
    setStatus("Disconnected", "offline");
    messageEl.textContent = "The session ended: " + reason + " Press Reconnect to open a new one.";
    messageEl.hidden = false;
    reconnectBtn.hidden = false;
    ws = null;
  }

  function send(type, payload) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const b = new Uint8Array(1 + payload.length);
    b[0] = type;
    b.set(payload, 1);
    ws.send(b);
  }

  function sendData(bytes) {
    for (let i = 0; i < bytes.length; i += MAX_DATA) send(FRAME_DATA, bytes.subarray(i, i + MAX_DATA));
  }

  function sendResize() {
    const p = new Uint8Array(4);
    const v = new DataView(p.buffer);
    v.setUint16(0, term.cols);
    v.setUint16(2, term.rows);
    send(FRAME_RESIZE, p);
  }

  async function connect() {
    messageEl.hidden = true;
    reconnectBtn.hidden = true;
    endReason = "";
    setStatus("Connecting…", "");
    let res;
    try {
      res = await fetch("/api/v1/agents/" + encodeURIComponent(agentID) + "/sessions", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ kind: "terminal", cols: term.cols, rows: term.rows }),
      });
    } catch (e) {
      showEnded("the server could not be reached.");
      return;
    }
    if (!res.ok) {
      let msg = res.status + " " + res.statusText;
      try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
      showEnded(msg.replace(/\.?$/, "."));
      return;
    }
    const s = await res.json();
    const sock = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + s.browser_url);
    sock.binaryType = "arraybuffer";
    ws = sock;
    sock.onopen = function () {
      setStatus("Connected", "ok");
      sendResize();
      term.focus();
    };
    sock.onmessage = function (ev) {
      if (!(ev.data instanceof ArrayBuffer)) return;
      const b = new Uint8Array(ev.data);
      if (b[0] === FRAME_DATA) term.write(b.subarray(1));
      else if (b[0] === FRAME_CLOSE) endReason = decoder.decode(b.subarray(1));
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      showEnded(endReason ? endReason.replace(/\.?$/, ".") : "the connection to the server was lost.");
    };
  }

  term.onData(function (d) { sendData(encoder.encode(d)); });
  term.onBinary(function (d) {
    const b = new Uint8Array(d.length);
    for (let i = 0; i < d.length; i++) b[i] = d.charCodeAt(i) & 0xff;
    sendData(b);
  });
  term.onResize(sendResize);
  new ResizeObserver(function () { fit.fit(); }).observe(root);

  document.querySelectorAll("[data-font]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      const size = Math.min(32, Math.max(8, term.options.fontSize + parseInt(btn.dataset.font, 10)));
      term.options.fontSize = size;
      localStorage.setItem("steward.terminal.fontSize", String(size));
      fit.fit();
      term.focus();
    });
  });
  reconnectBtn.addEventListener("click", function () {
    term.reset();
    connect();
  });
  connect();
})();
