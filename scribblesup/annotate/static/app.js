"use strict";
// scribblesup annotate: draw scribbles, see the graph cut's dense labels after every stroke.
const token = new URLSearchParams(location.search).get("token");
const headers = token ? {"x-token": token} : {};
const q = (id) => document.getElementById(id);
const UNLABELLED = 255;
let info = null, current = null, cls = 1, undoStack = [], redoStack = [], busy = Promise.resolve();
let view = {scale: 1, x: 0, y: 0};

function api(path, options = {}) {
  return fetch(path + (token ? (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : ""),
               {...options, headers: {...headers, ...(options.headers || {})}});
}
function decode(b64) {
  const s = atob(b64), a = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
  return a;
}
function encode(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 32768) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 32768));
  return btoa(s);
}
function status(text) { q("status").textContent = text; }

function paint(canvas, map, colorOf) {
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(current.width, current.height);
  for (let i = 0; i < map.length; i++) {
    const c = colorOf(map[i]);
    if (c) { img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = c[3]; }
  }
  ctx.putImageData(img, 0, 0);
}
const classColor = (alpha) => (v) => v === UNLABELLED ? null : [...info.classes[v].color, alpha];
function drawLabels() { paint(q("overlay"), current.labels, classColor(255)); q("overlay").style.opacity = q("opacity").value / 100; }
function drawStrokes() { paint(q("strokes"), current.scribble, classColor(255)); }
function drawBounds() {
  paint(q("bounds-layer"), current.boundaries, (v) => v ? [255, 255, 0, 200] : null);
  q("bounds-layer").style.display = q("bounds").checked ? "block" : "none";
}
function applyView() { q("stack").style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`; }
function fit() {
  const vp = q("viewport").getBoundingClientRect();
  view.scale = Math.min(vp.width / current.width, vp.height / current.height);
  view.x = (vp.width - current.width * view.scale) / 2; view.y = (vp.height - current.height * view.scale) / 2;
  applyView();
}

function renderList() {
  q("progress").textContent = `${info.scribbled} / ${info.total} scribbled`;
  const ul = q("images"); ul.innerHTML = "";
  for (const im of info.images) {
    const li = document.createElement("li");
    li.textContent = im.id; li.className = (im.scribbled ? "done" : "") + (current && im.id === current.id ? " current" : "");
    li.onclick = () => openImage(im.id);
    ul.appendChild(li);
  }
}
function renderClasses() {
  const box = q("classes"); box.innerHTML = "";
  info.classes.forEach((c, i) => {
    const el = document.createElement("span");
    el.className = "cls" + (i === cls ? " active" : ""); el.dataset.cls = i;
    el.innerHTML = `<span class="swatch" style="background:rgb(${c.color.join(",")})"></span>${i < 9 ? i + 1 + ": " : ""}${c.name}`;
    el.onclick = () => pick(i);
    box.appendChild(el);
  });
  q("eraser").classList.toggle("active", cls === UNLABELLED);
}
function pick(c) { cls = c; renderClasses(); }

async function openImage(id, wait = true) {
  if (wait) await busy;  // strokes in flight are saved first
  const r = await api(`/api/state/${encodeURIComponent(id)}`);
  const s = await r.json();
  if (!r.ok) { status(s.error); return; }
  current = {id: s.id, width: s.width, height: s.height, version: s.version, scribble: decode(s.scribble),
             labels: decode(s.labels), boundaries: decode(s.boundaries)};
  undoStack = []; redoStack = [];
  for (const c of document.querySelectorAll("#stack canvas")) { c.width = s.width; c.height = s.height; }
  const img = new Image();
  img.onload = () => { q("base").getContext("2d").drawImage(img, 0, 0); };
  img.src = `/api/image/${encodeURIComponent(id)}` + (token ? "?token=" + encodeURIComponent(token) : "");
  drawLabels(); drawStrokes(); drawBounds(); fit(); renderList();
  status(`${id}: ${s.width} x ${s.height}` + (s.open_ms > 5 ? `, region graph ${s.open_ms.toFixed(0)} ms` : ""));
}

function send() {
  const snapshot = current.scribble.slice(), target = current;
  busy = busy.then(async () => {
    const r = await api(`/api/stroke/${encodeURIComponent(target.id)}`, {
      method: "POST", headers: {"content-type": "application/json"},
      body: JSON.stringify({scribble: encode(snapshot), width: target.width, height: target.height, version: target.version}),
    });
    const s = await r.json();
    if (!r.ok) { status(`not saved: ${s.error}`); if (r.status === 409) await openImage(target.id, false); return; }
    target.version = s.version;
    if (target === current) { current.labels = decode(s.labels); drawLabels(); }
    const entry = info.images.find((im) => im.id === target.id);
    if (entry && !entry.scribbled) { entry.scribbled = true; info.scribbled = s.scribbled; renderList(); }
    status(`saved ${target.id}; labels in ${s.server_ms.toFixed(0)} ms`);
  });
  return busy;
}

function toImage(ev) {
  const r = q("viewport").getBoundingClientRect();
  return [(ev.clientX - r.left - view.x) / view.scale, (ev.clientY - r.top - view.y) / view.scale];
}
function dab(x, y) {
  const rad = Number(q("brush").value) / 2, w = current.width, h = current.height;
  for (let yy = Math.max(0, Math.floor(y - rad)); yy <= Math.min(h - 1, Math.ceil(y + rad)); yy++)
    for (let xx = Math.max(0, Math.floor(x - rad)); xx <= Math.min(w - 1, Math.ceil(x + rad)); xx++)
      if ((xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= Math.max(rad * rad, 0.5)) current.scribble[yy * w + xx] = cls;
}
function line(a, b) {
  const n = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1])));
  for (let i = 0; i <= n; i++) dab(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n);
}

let drawing = null, panning = null;
q("viewport").addEventListener("contextmenu", (ev) => ev.preventDefault());
q("viewport").addEventListener("pointerdown", (ev) => {
  if (!current) return;
  q("viewport").setPointerCapture(ev.pointerId);
  if (ev.button === 1 || ev.button === 2) { panning = [ev.clientX - view.x, ev.clientY - view.y]; return; }
  undoStack.push(current.scribble.slice()); redoStack = [];
  drawing = toImage(ev); dab(...drawing); drawStrokes();
});
q("viewport").addEventListener("pointermove", (ev) => {
  if (panning) { view.x = ev.clientX - panning[0]; view.y = ev.clientY - panning[1]; applyView(); return; }
  if (!drawing) return;
  const p = toImage(ev); line(drawing, p); drawing = p; drawStrokes();
});
q("viewport").addEventListener("pointerup", () => {
  if (panning) { panning = null; return; }
  if (!drawing) return;
  drawing = null; send();
});
q("viewport").addEventListener("wheel", (ev) => {
  ev.preventDefault();
  const r = q("viewport").getBoundingClientRect(), f = ev.deltaY < 0 ? 1.2 : 1 / 1.2;
  const mx = ev.clientX - r.left, my = ev.clientY - r.top;
  view.x = mx - (mx - view.x) * f; view.y = my - (my - view.y) * f; view.scale *= f; applyView();
}, {passive: false});

function undo() { if (!undoStack.length) return; redoStack.push(current.scribble); current.scribble = undoStack.pop(); drawStrokes(); send(); }
function redo() { if (!redoStack.length) return; undoStack.push(current.scribble); current.scribble = redoStack.pop(); drawStrokes(); send(); }
function nextUnscribbled() {
  const start = info.images.findIndex((im) => current && im.id === current.id);
  const order = info.images.slice(start + 1).concat(info.images.slice(0, start + 1));
  const next = order.find((im) => !im.scribbled);
  if (next) openImage(next.id); else status("every image is scribbled");
}
q("undo").onclick = undo; q("redo").onclick = redo; q("fit").onclick = fit; q("next").onclick = nextUnscribbled;
q("eraser").onclick = () => pick(UNLABELLED);
q("opacity").oninput = drawLabels; q("bounds").onchange = drawBounds;
q("brush").oninput = () => { q("brushv").textContent = q("brush").value; };
q("export").onclick = async () => { const r = await api("/api/export", {method: "POST"}); const s = await r.json(); status(r.ok ? `exported ${s.exported} dense label maps to ${s.folder}` : s.error); };
document.addEventListener("keydown", (ev) => {
  if (ev.target.tagName === "INPUT") return;
  if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z") { ev.preventDefault(); ev.shiftKey ? redo() : undo(); return; }
  if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "y") { ev.preventDefault(); redo(); return; }
  if (/^[1-9]$/.test(ev.key) && Number(ev.key) <= info.classes.length) pick(Number(ev.key) - 1);
  else if (ev.key === "e" || ev.key === "E" || ev.key === "0") pick(UNLABELLED);
  else if (ev.key === "f" || ev.key === "F") fit();
  else if (ev.key === "b" || ev.key === "B") { q("bounds").checked = !q("bounds").checked; drawBounds(); }
  else if (ev.key === "n" || ev.key === "N") nextUnscribbled();
  else if (ev.key === "[") { q("brush").value = Math.max(1, q("brush").value - 1); q("brush").oninput(); }
  else if (ev.key === "]") { q("brush").value = Number(q("brush").value) + 1; q("brush").oninput(); }
});

(async () => {
  const r = await api("/api/info");
  info = await r.json();
  if (!r.ok) { status(info.error); return; }
  cls = Math.min(1, info.classes.length - 1);
  renderClasses(); renderList();
  const first = info.images.find((im) => !im.scribbled) || info.images[0];
  if (first) openImage(first.id);
})();
