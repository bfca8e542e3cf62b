// syncnet-monitor's live page: the state on load (/state), then one event per record (/events).
"use strict";
const CHART_SPAN_S = 300;  // the chart shows the last five minutes (at least 30 s)
const hops = [];           // {t, ms, state}
const alarms = [];         // {t, raised}
let info = {tolerance_ms: [-125, 45], preset: ""};
let lastTime = 0;

function text(id, value) { document.getElementById(id).textContent = value; }

function showStatus(status) {
  if (!status) return;
  text("connected", status.connected ? "connected" : "disconnected (reconnecting)");
  text("dropped", "dropped frames: " + (status.frames_dropped || 0));
  text("rtf", "real-time factor: " + (status.realtime_factor == null ? "–" : status.realtime_factor.toFixed(2)));
}

function take(record) {
  if (record.type === "hop") {
    hops.push({t: record.time_s, ms: record.offset_ms, state: record.state});
    lastTime = record.time_s;
    const now = document.getElementById("now");
    now.className = record.state;
    text("offset", record.offset_ms == null ? "–" : (record.offset_ms > 0 ? "+" : "") + Math.round(record.offset_ms));
    text("state", record.state.replace(/_/g, " "));
    document.getElementById("face").src = "/thumbnail.jpg?t=" + record.time_s;
  } else if (record.type === "alarm") {
    alarms.push({t: record.time_s, raised: record.raised});
    text("alarm", record.raised ? "ALARM: out of sync" : "no alarm");
  } else if (record.type === "summary") {
    text("connected", "ended: " + record.reason);
  }
  while (hops.length && hops[0].t < lastTime - CHART_SPAN_S) hops.shift();
}

function draw() {
  const canvas = document.getElementById("chart");
  const g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 40;
  g.clearRect(0, 0, w, h);
  const [late, early] = info.tolerance_ms;
  const values = hops.filter(p => p.ms != null).map(p => p.ms);
  const top = Math.max(early * 2, 200, ...values), bottom = Math.min(late * 2, -200, ...values);
  const span = Math.min(CHART_SPAN_S, Math.max(30, lastTime - (hops.length ? hops[0].t : lastTime)));
  const x = t => pad + (w - 2 * pad) * (1 - (lastTime - t) / span);
  const y = ms => pad + (h - 2 * pad) * (top - ms) / (top - bottom);
  g.fillStyle = "rgba(76, 175, 80, 0.25)";          // the tolerance band
  g.fillRect(pad, y(early), w - 2 * pad, y(late) - y(early));
  g.strokeStyle = "#666"; g.beginPath(); g.moveTo(pad, y(0)); g.lineTo(w - pad, y(0)); g.stroke();
  g.fillStyle = "#aaa"; g.font = "12px sans-serif";
  g.fillText("+" + early + " ms", 2, y(early) + 4); g.fillText(late + " ms", 2, y(late) + 4);
  g.fillText("last " + Math.round(span) + " s", w - pad - 70, h - 8);
  for (const alarm of alarms) {                     // alarms: red when raised, grey when cleared
    if (alarm.t < lastTime - span) continue;
    g.strokeStyle = alarm.raised ? "#f44336" : "#9e9e9e"; g.lineWidth = 2;
    g.beginPath(); g.moveTo(x(alarm.t), pad); g.lineTo(x(alarm.t), h - pad); g.stroke();
  }
  g.strokeStyle = "#4fc3f7"; g.lineWidth = 2; g.beginPath();
  let drawing = false;
  for (const p of hops) {
    if (p.ms == null) { drawing = false; continue; }
    if (drawing) g.lineTo(x(p.t), y(p.ms)); else g.moveTo(x(p.t), y(p.ms));
    drawing = true;
  }
  g.stroke();
  for (const p of hops) {
    if (p.ms == null) continue;
    g.fillStyle = p.state === "out_of_sync" ? "#f44336" : p.state === "in_sync" ? "#81c784" : "#9e9e9e";
    g.fillRect(x(p.t) - 2, y(p.ms) - 2, 4, 4);
  }
  canvas.dataset.points = String(values.length);     // what the browser test reads
}

fetch("/state").then(r => r.json()).then(state => {
  info = state;
  text("source", state.source);
  text("tolerance", "tolerance (" + state.preset + "): +" + state.tolerance_ms[1] + "/" + state.tolerance_ms[0] + " ms");
  for (const record of state.records) take(record);
  showStatus(state.status);
  draw();
  const events = new EventSource("/events");
  events.onmessage = e => { const m = JSON.parse(e.data); take(m.record); showStatus(m.status); draw(); };
  events.onerror = () => text("connected", "page lost the monitor (retrying)");
});
