// The Compare grid viewer: every cell drawn on a canvas from one shared view (lock-step pan/zoom),
// compare modes for two cells of a row, and keyboard triage sent back to Python as events.
// Called by Streamlit on every rerun with the same parentElement: state lives on that element.

const MODES = ["side by side", "slider", "flicker", "difference", "overlay"];
const MIN_SCALE = 0.25;
const MAX_SCALE = 64;
const images = new Map(); // url -> {img, ok}: shared, so a rerun reuses what the browser already decoded
// What the user set (view, focus, slider split, lock), per component key, in the tab's sessionStorage: Streamlit
// may mount the component afresh (and load this module again) on a rerun, and the user's place must survive that.
const kept = {
  get(key) { try { return JSON.parse(sessionStorage.getItem(`wbv:${key}`) || "null"); } catch (e) { return null; } },
  set(key, value) { try { sessionStorage.setItem(`wbv:${key}`, JSON.stringify(value)); } catch (e) { /* full or off */ } },
};

function loadImage(url, onload) {
  let entry = images.get(url);
  if (!entry) {
    const img = new Image();
    img.decoding = "async";
    entry = { img, ok: false, waiters: [] };
    images.set(url, entry);
    img.onload = () => { entry.ok = true; entry.waiters.splice(0).forEach((f) => f()); };
    img.onerror = () => { entry.failed = true; entry.waiters.splice(0).forEach((f) => f()); };
    img.src = url;
  }
  if (entry.ok) return entry;
  if (onload) entry.waiters.push(onload);
  return entry;
}

function scroller(el) { // the nearest ancestor that scrolls vertically (null: the page itself)
  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    const y = getComputedStyle(p).overflowY;
    if (y === "auto" || y === "scroll") return p;
  }
  return null;
}

function fmt(v) { return v.toFixed(3); }

function heat(t) { // 0..1 -> [r, g, b]: black, red, yellow, white
  const r = Math.min(255, Math.round(765 * t));
  const g = Math.min(255, Math.max(0, Math.round(765 * t - 255)));
  const b = Math.min(255, Math.max(0, Math.round(765 * t - 510)));
  return [r, g, b];
}

function pixels(img, w, h) {
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(img, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h).data;
}

function combine(imgA, imgB, w, h, kind) { // difference heatmap or two-colour overlay, at full resolution
  const a = pixels(imgA, w, h);
  const b = pixels(imgB, w, h);
  const out = document.createElement("canvas");
  out.width = w; out.height = h;
  const ctx = out.getContext("2d");
  const res = ctx.createImageData(w, h);
  const d = res.data;
  for (let i = 0; i < d.length; i += 4) {
    const ga = (a[i] * 299 + a[i + 1] * 587 + a[i + 2] * 114) / 1000;
    const gb = (b[i] * 299 + b[i + 1] * 587 + b[i + 2] * 114) / 1000;
    if (kind === "difference") {
      const [r, g, bl] = heat(Math.abs(ga - gb) / 255);
      d[i] = r; d[i + 1] = g; d[i + 2] = bl;
    } else { // A's ink red, B's ink blue, ink in both dark
      d[i] = gb; d[i + 1] = Math.min(ga, gb); d[i + 2] = ga;
    }
    d[i + 3] = 255;
  }
  ctx.putImageData(res, 0, 0);
  return out;
}

class Viewer {
  constructor(root, api) {
    this.root = root;
    this.api = api;
    this.view = { cx: 0.5, cy: 0.5, s: 1 };
    this.own = new Map(); // cell element id -> its own view while locked
    this.locked = false;
    this.mode = null;
    this.a = 0; this.b = 1;
    this.focus = -1;
    this.showB = false;
    this.split = 0.5;
    this.seq = Date.now(); // above every seq an earlier mount of the viewer sent
    this.unacked = [];
    this.frame = 0;
    this.cells = [];
    this.labels = [];
    this.combined = new Map();
    this.grid = root.querySelector(".wbv-grid");
    // Cells within 600px of the visible area count as near (drawn, images fetched). The margin must be set on
    // the scrolling container itself: Streamlit's page scrolls inside a box, which clips a margin on the viewport.
    this.observer = new IntersectionObserver((entries) => {
      for (const e of entries) e.target.__near = e.isIntersecting;
      this.request();
    }, { root: scroller(root), rootMargin: "600px 0px" });
    this.buildBar();
    this.listen();
  }

  // Each trigger carries every event Python has not acknowledged yet (``data.acked``, the last seq it applied):
  // Streamlit keeps only the newest value of a trigger sent while the script is busy, so an event sent alone could
  // be lost to the next one. Python applies each seq once.
  send(event) {
    this.seq += 1;
    this.unacked.push({ ...event, seq: this.seq });
    this.api.setTriggerValue("event", { events: this.unacked.slice() });
  }

  buildBar() {
    const modes = this.root.querySelector(".wbv-modes");
    for (const m of MODES) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = m;
      b.dataset.testid = "viewer-mode";
      b.dataset.mode = m;
      b.addEventListener("click", () => { this.setMode(m); this.send({ type: "mode", mode: m }); });
      modes.appendChild(b);
    }
    this.root.querySelector(".wbv-lock").addEventListener("change", (e) => {
      this.locked = e.target.checked;
      if (!this.locked) this.own.clear();
      this.request();
    });
    this.root.querySelector(".wbv-rate").addEventListener("change", (e) => this.setRate(Number(e.target.value)));
  }

  setRate(hz) {
    clearInterval(this.timer);
    if (hz > 0) this.timer = setInterval(() => { this.showB = !this.showB; this.request(); }, 500 / hz);
  }

  setMode(m) {
    if (m === this.mode) return;
    this.mode = m;
    for (const b of this.root.querySelectorAll('[data-testid="viewer-mode"]')) b.classList.toggle("on", b.dataset.mode === m);
    this.root.querySelector(".wbv-rate-label").style.display = m === "flicker" ? "" : "none";
    this.build();
  }

  update(data) {
    const first = !this.data;
    // What the DOM is built from: a cell that finished (a running sweep) or a new row or column rebuilds the
    // cells; the view, the focus and A/B stay as they are.
    const structure = (d) => JSON.stringify([d.columns.map((c) => c.key),
      d.rows.map((r) => [r.key, r.cells.map((c) => c && [c.id, c.status, c.thumb, c.full])])]);
    const same = !first && structure(this.data) === structure(data);
    this.data = data;
    this.unacked = this.unacked.filter((e) => e.seq > (data.acked || 0));
    this.root.querySelector(".wbv-page").textContent = data.page_label || "";
    if (data.hint) this.root.querySelector(".wbv-hint").textContent = data.hint;
    const n = data.columns.length;
    if (first || !same) {
      this.a = Math.min(data.a ?? 0, Math.max(0, n - 1));
      this.b = Math.min(data.b ?? 1, Math.max(0, n - 1));
    }
    if (first && data.first_view) { // the page's controls wait for this view: report it drawn, at the latest in 2 s
      this.drawnTimer = setTimeout(() => this.reportDrawn(true), 2000);
    }
    if (first) { this.mode = null; this.setMode(MODES.includes(data.mode) ? data.mode : MODES[0]); return; }
    if (same) this.refreshMarks(); else this.build();
  }

  // ------------------------------------------------------------------ DOM

  build() {
    const d = this.data;
    if (!d) return;
    for (const c of this.cells) this.observer.unobserve(c.el);
    this.cells = [];
    this.labels = [];
    this.grid.textContent = "";
    const compare = this.mode !== "side by side" && d.columns.length > 1;
    const cols = compare ? 1 : d.columns.length;
    this.grid.style.gridTemplateColumns = compare ? "minmax(90px, 0.6fr) minmax(0, 760px) 1fr"
      : `minmax(90px, 0.6fr) repeat(${Math.max(cols, 1)}, minmax(0, 1fr))`;
    this.grid.appendChild(document.createElement("div"));
    if (compare) {
      const h = document.createElement("div");
      h.className = "wbv-head";
      h.appendChild(this.headerChoice());
      this.grid.appendChild(h);
    } else {
      d.columns.forEach((col, i) => {
        const h = document.createElement("div");
        h.className = "wbv-head";
        h.dataset.testid = "viewer-column";
        h.title = col.title || col.label;
        h.dataset.header = `${String.fromCharCode(65 + (i % 26))} · ${col.label}`;
        if (d.blind) { // a blind vote: the number to press, nothing else
          h.textContent = col.label;
          this.grid.appendChild(h);
          return;
        }
        h.innerHTML = `${String.fromCharCode(65 + (i % 26))} · <span></span><small></small>`;
        h.querySelector("span").textContent = col.label;
        h.querySelector("small").textContent = col.differs || "";
        if (i === this.a || i === this.b) {
          const t = document.createElement("span");
          t.className = "wbv-ab"; t.textContent = i === this.a ? "A" : "B";
          h.appendChild(t);
        }
        h.addEventListener("click", (e) => this.choose(i, e.shiftKey));
        this.grid.appendChild(h);
      });
    }
    d.rows.forEach((row, r) => {
      const label = document.createElement("div");
      label.className = "wbv-rowlabel";
      label.dataset.testid = "viewer-row";
      label.dataset.row = row.key;
      if (row.input) { // the input photo, fetched after the cells (lazy) from the app's /inputs/ route
        const img = document.createElement("img");
        img.loading = "lazy"; img.decoding = "async"; img.alt = ""; img.draggable = false;
        img.src = row.input;
        label.appendChild(img);
      }
      label.appendChild(document.createTextNode(row.label));
      label.addEventListener("click", () => this.setFocus(r));
      this.labels.push(label);
      this.grid.appendChild(label);
      if (compare) {
        this.addCell(row, r, [row.cells[this.a], row.cells[this.b]], null, true);
      } else {
        row.cells.forEach((cell, c) => this.addCell(row, r, [cell], c, false));
      }
    });
    this.setFocus(this.focus, false);
    this.refreshMarks();
    // Draw on the next frame: every cell gets its view (``data-view``); a cell's images are asked for once the
    // observer has reported it near.
    this.request();
  }

  headerChoice() {
    const span = document.createElement("span");
    const pick = (which) => {
      const sel = document.createElement("select");
      sel.dataset.testid = `viewer-pick-${which}`;
      this.data.columns.forEach((c, i) => {
        const o = document.createElement("option");
        o.value = i; o.textContent = `${String.fromCharCode(65 + (i % 26))} · ${c.label}`;
        sel.appendChild(o);
      });
      sel.value = which === "a" ? this.a : this.b;
      sel.addEventListener("change", () => {
        if (which === "a") this.a = Number(sel.value); else this.b = Number(sel.value);
        this.send({ type: "select", a: this.a, b: this.b });
        this.build();
      });
      return sel;
    };
    span.append("A ", pick("a"), " B ", pick("b"));
    return span;
  }

  choose(i, asB) {
    if (asB) this.b = i; else this.a = i;
    if (this.a === this.b) this.b = this.a === 0 ? Math.min(1, this.data.columns.length - 1) : 0;
    this.send({ type: "select", a: this.a, b: this.b });
    this.build();
  }

  addCell(row, r, pair, column, compare) {
    const cell = pair[0];
    const el = document.createElement("div");
    el.className = "wbv-cell";
    el.dataset.testid = "viewer-cell";
    el.dataset.cellId = cell ? cell.id : "";
    el.dataset.row = row.key;
    if (compare) { el.classList.add("wbv-compare"); el.dataset.cellB = pair[1] ? pair[1].id : ""; }
    const w = (cell && cell.width) || (pair[1] && pair[1].width) || 1;
    const h = (cell && cell.height) || (pair[1] && pair[1].height) || 1;
    el.style.setProperty("--ar", `${w} / ${h}`);
    const canvas = document.createElement("canvas");
    canvas.draggable = false;
    el.appendChild(canvas);
    const entry = { el, canvas, row, r, column, pair, w, h, compare };
    if (!cell || !cell.thumb) {
      const s = document.createElement("div");
      s.className = "wbv-status";
      s.textContent = !cell ? "— not computed for this combination"
        : cell.status === "failed" ? `Failed: ${cell.error || "no error recorded"}`
          : cell.status !== "done" ? `${cell.status}…` : "output file missing";
      if (cell && cell.status === "failed") s.style.color = "#c62828";
      el.appendChild(s);
    }
    if (compare) {
      if (this.mode === "slider") {
        const div = document.createElement("div");
        div.className = "wbv-divider";
        div.dataset.testid = "viewer-divider";
        div.draggable = false;
        div.addEventListener("dragstart", (e) => e.preventDefault());
        div.addEventListener("pointerdown", (e) => {
          e.preventDefault(); e.stopPropagation();
          div.setPointerCapture(e.pointerId);
          const move = (ev) => {
            const box = el.getBoundingClientRect();
            this.split = Math.min(1, Math.max(0, (ev.clientX - box.left) / box.width));
            this.request();
          };
          const up = () => { div.removeEventListener("pointermove", move); div.removeEventListener("pointerup", up); };
          div.addEventListener("pointermove", move);
          div.addEventListener("pointerup", up);
        });
        el.appendChild(div);
        entry.divider = div;
      }
      const badge = document.createElement("div");
      badge.className = "wbv-badge";
      el.appendChild(badge);
      entry.badge = badge;
      if (this.mode === "difference") {
        const legend = document.createElement("div");
        legend.className = "wbv-legend";
        legend.innerHTML = "|A−B| <canvas width='120' height='10'></canvas><span style='float:left'>0</span><span style='float:right'>255</span>";
        const lc = legend.querySelector("canvas").getContext("2d");
        for (let x = 0; x < 120; x++) { const [r2, g2, b2] = heat(x / 119); lc.fillStyle = `rgb(${r2},${g2},${b2})`; lc.fillRect(x, 0, 1, 10); }
        el.appendChild(legend);
      }
    } else {
      const star = document.createElement("div");
      star.className = "wbv-star";
      el.appendChild(star);
      const tags = document.createElement("div");
      tags.className = "wbv-tagline";
      el.appendChild(tags);
      entry.star = star; entry.tags = tags;
      el.title = cell ? (cell.title || "") : "";
    }
    el.addEventListener("click", (e) => {
      this.setFocus(r, false);
      if (column !== null && (e.altKey || e.ctrlKey || e.metaKey)) this.choose(column, e.shiftKey);
    });
    el.__entry = entry;
    this.cells.push(entry);
    this.observer.observe(el);
    this.grid.appendChild(el);
  }

  refreshMarks() {
    for (const c of this.cells) {
      const cell = this.data.rows[c.r] && this.data.rows[c.r].cells[c.column ?? this.a];
      const fresh = cell && c.pair[0] && cell.id === c.pair[0].id ? cell : c.pair[0];
      if (!fresh) continue;
      c.el.dataset.preferred = fresh.preferred ? "true" : "false";
      if (c.star) c.star.textContent = fresh.preferred ? "★" : "";
      if (c.tags) {
        c.tags.textContent = "";
        for (const l of fresh.labels || []) { const s = document.createElement("span"); s.textContent = l; c.tags.appendChild(s); }
        for (const n of fresh.notes || []) { const s = document.createElement("span"); s.textContent = "📝 " + n; c.tags.appendChild(s); }
      }
    }
  }

  setFocus(r, scroll = true) {
    const rows = this.data.rows;
    if (!rows.length) return;
    this.focus = r < 0 ? -1 : Math.min(Math.max(r, 0), rows.length - 1);
    // The row headers as built: a rerun with the same rows brings new row objects but keeps these elements.
    this.labels.forEach((label, i) => label.classList.toggle("focus", i === this.focus));
    if (scroll && this.labels[this.focus]) this.labels[this.focus].scrollIntoView({ block: "nearest", behavior: "auto" });
  }

  // ------------------------------------------------------------------ view

  viewOf(entry) { return (this.locked && this.own.get(entry.el)) || this.view; }

  fit(entry) {
    const W = entry.el.clientWidth; // inside the border: the canvas's box
    const H = entry.el.clientHeight;
    return { W, H, fit: Math.min(W / entry.w, H / entry.h) || 1 };
  }

  zoomAt(entry, factor, px, py) { // zoom about the pointer (px, py in the cell's CSS px)
    const v = this.target(entry);
    const { W, H, fit } = this.fit(entry);
    const k = fit * v.s;
    const ix = v.cx * entry.w + (px - W / 2) / k; // image point under the pointer stays put
    const iy = v.cy * entry.h + (py - H / 2) / k;
    const s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, v.s * factor));
    const k2 = fit * s;
    v.s = s;
    v.cx = (ix - (px - W / 2) / k2) / entry.w;
    v.cy = (iy - (py - H / 2) / k2) / entry.h;
    this.request();
  }

  target(entry) { // the view an interaction on ``entry`` changes: its own one while locked
    if (!this.locked) return this.view;
    if (!this.own.has(entry.el)) this.own.set(entry.el, { ...this.view });
    return this.own.get(entry.el);
  }

  setScale(entry, s) {
    const v = entry ? this.target(entry) : this.view;
    v.s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, s));
    if (s === 1) { v.cx = 0.5; v.cy = 0.5; }
    this.request();
  }

  oneToOne(entry) { // scale at which one image pixel covers one CSS pixel
    return 1 / this.fit(entry).fit;
  }

  listen() {
    let drag = null;
    this.grid.addEventListener("wheel", (e) => {
      const el = e.target.closest(".wbv-cell");
      if (!el) return;
      e.preventDefault();
      const box = el.getBoundingClientRect();
      this.zoomAt(el.__entry, Math.exp(-e.deltaY * 0.002), e.clientX - box.left, e.clientY - box.top);
    }, { passive: false });
    this.grid.addEventListener("dragstart", (e) => e.preventDefault());
    this.grid.addEventListener("pointerdown", (e) => {
      const el = e.target.closest(".wbv-cell");
      if (!el || e.button !== 0) return;
      e.preventDefault();
      el.setPointerCapture(e.pointerId);
      el.classList.add("dragging");
      drag = { el, x: e.clientX, y: e.clientY };
    });
    this.grid.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const entry = drag.el.__entry;
      const v = this.target(entry);
      const k = this.fit(entry).fit * v.s;
      v.cx -= (e.clientX - drag.x) / k / entry.w;
      v.cy -= (e.clientY - drag.y) / k / entry.h;
      drag.x = e.clientX; drag.y = e.clientY;
      this.request();
    });
    const end = () => { if (drag) drag.el.classList.remove("dragging"); drag = null; };
    this.grid.addEventListener("pointerup", end);
    this.grid.addEventListener("pointercancel", end);
    this.grid.addEventListener("dblclick", (e) => {
      const el = e.target.closest(".wbv-cell");
      if (!el) return;
      const entry = el.__entry;
      const one = this.oneToOne(entry);
      const v = this.target(entry);
      if (Math.abs(v.s - one) < 1e-3) { this.setScale(entry, 1); return; }
      const box = el.getBoundingClientRect();
      this.zoomAt(entry, one / v.s, e.clientX - box.left, e.clientY - box.top);
      v.s = one; // exact 1:1, whatever rounding zoomAt did
    });
    this.onKey = (e) => this.key(e);
    document.addEventListener("keydown", this.onKey);
  }

  key(e) {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) && !this.root.contains(t)) return;
    if (!this.root.isConnected || !this.data) return;
    const rows = this.data.rows;
    const row = rows[this.focus];
    const k = e.key;
    if (this.data.blind) { // a blind vote: digits pick, s skips, t ties, u undoes; nothing else but the view keys
      const n = this.data.columns.length;
      if (/^[1-9]$/.test(k) && Number(k) <= n) this.send({ type: "vote", col: Number(k) - 1 });
      else if (k === "s") this.send({ type: "skip" });
      else if (k === "t") this.send({ type: "tie" });
      else if (k === "u") this.send({ type: "undo" });
      else if (!["+", "=", "-", "0"].includes(k)) return;
      if (!["+", "=", "-", "0"].includes(k)) { e.preventDefault(); return; }
    }
    const first = this.cells.find((c) => c.el.isConnected);
    if (k === "+" || k === "=") this.setScale(null, this.view.s * 1.25);
    else if (k === "-") this.setScale(null, this.view.s / 1.25);
    else if (k === "0") { this.own.clear(); this.view = { cx: 0.5, cy: 0.5, s: 1 }; this.request(); }
    else if (k === "j") this.setFocus(this.focus + 1);
    else if (k === "k") this.setFocus(Math.max(0, this.focus - 1));
    else if (k === "f") { this.showB = !this.showB; this.request(); }
    else if (/^[1-9]$/.test(k)) {
      if (!row) this.setFocus(0, true);
      const target = rows[this.focus];
      const i = Number(k) - 1;
      const cell = target && target.cells[i];
      if (!cell) return;
      const on = !cell.preferred;
      target.cells.forEach((c) => { if (c) c.preferred = false; });
      cell.preferred = on; // shown at once; the rerun brings the stored mark
      this.refreshMarks();
      this.send({ type: "prefer", row: target.key, cell: on ? cell.id : null, col: this.data.columns[i].key });
    } else if (k === "t" || k === "n") {
      if (!row) return;
      const cell = this.focusCell(row);
      if (!cell) return;
      e.preventDefault();
      const text = window.prompt(k === "t" ? `Label for ${row.label}` : `Note for ${row.label}`);
      if (!text || !text.trim()) return;
      if (k === "t") { (cell.labels = cell.labels || []).push(text.trim()); this.send({ type: "label", row: row.key, cell: cell.id, label: text.trim() }); }
      else { (cell.notes = cell.notes || []).push(text.trim()); this.send({ type: "note", row: row.key, cell: cell.id, note: text.trim() }); }
      this.refreshMarks();
    } else if (k === "u") this.send({ type: "undo" });
    else return;
    if (first) e.preventDefault();
  }

  focusCell(row) { // the cell a label or note goes to: the row's preferred one, else column A
    return row.cells.find((c) => c && c.preferred) || row.cells[this.a] || row.cells.find((c) => c);
  }

  // ------------------------------------------------------------------ drawing

  request() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  source(cell, entry, k) { // the best image loaded for ``cell``: full resolution once zoomed past the thumbnail
    if (!cell || !cell.thumb) return null;
    const near = entry.el.__near === true;
    const thumb = near || images.has(cell.thumb) ? loadImage(cell.thumb, () => this.request()) : null;
    const tw = thumb && thumb.ok ? thumb.img.naturalWidth : 0;
    // The thumbnail first: the full-resolution file is asked for only once the thumbnail is in (or failed) and
    // the zoom shows more pixels than it has, so a page's first paint waits for small files only.
    const settled = thumb && (thumb.ok || thumb.failed);
    const needFull = cell.full && near && settled && (k * cell.width * (window.devicePixelRatio || 1) > tw * 1.05 || !tw);
    if (needFull || (cell.full && images.has(cell.full) && images.get(cell.full).ok)) {
      const full = loadImage(cell.full, () => this.request());
      if (full.ok) return full.img;
    }
    return thumb && thumb.ok ? thumb.img : null;
  }

  fullOf(cell) {
    if (!cell || !cell.full) return null;
    const e = loadImage(cell.full, () => this.request());
    return e.ok ? e.img : null;
  }

  draw() {
    const dpr = window.devicePixelRatio || 1;
    for (const entry of this.cells) {
      if (!entry.el.isConnected) continue;
      const v = this.viewOf(entry);
      entry.el.dataset.view = `${fmt(v.cx)},${fmt(v.cy)},${fmt(v.s)}`;
      if (entry.el.__near !== true) continue; // unknown until the observer has reported it
      const { W, H, fit } = this.fit(entry);
      const cw = Math.max(1, Math.round(W * dpr));
      const ch = Math.max(1, Math.round(H * dpr));
      if (entry.canvas.width !== cw || entry.canvas.height !== ch) { entry.canvas.width = cw; entry.canvas.height = ch; }
      const ctx = entry.canvas.getContext("2d");
      const k = fit * v.s; // CSS px per image px
      const pixelated = k * dpr > 1;
      entry.canvas.classList.toggle("px", pixelated);
      ctx.imageSmoothingEnabled = !pixelated;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#f3f3f3";
      ctx.fillRect(0, 0, cw, ch);
      const x0 = (W / 2 - v.cx * entry.w * k) * dpr; // where the image's top-left lands
      const y0 = (H / 2 - v.cy * entry.h * k) * dpr;
      const dw = entry.w * k * dpr;
      const dh = entry.h * k * dpr;
      const put = (img) => {
        if (!img) return;
        ctx.drawImage(img, 0, 0, img.naturalWidth || img.width, img.naturalHeight || img.height, x0, y0, dw, dh);
        entry.el.dataset.loaded = "true"; // an image is on this cell's canvas (tests and the benchmark wait for it)
      };
      if (!entry.compare) { put(this.source(entry.pair[0], entry, k)); continue; }
      const [A, B] = entry.pair;
      const mode = this.mode;
      if (mode === "slider") {
        put(this.source(A, entry, k));
        ctx.save();
        ctx.beginPath();
        ctx.rect(this.split * cw, 0, cw, ch);
        ctx.clip();
        ctx.fillRect(this.split * cw, 0, cw, ch);
        put(this.source(B, entry, k));
        ctx.restore();
        if (entry.divider) entry.divider.style.left = `${this.split * 100}%`;
        entry.badge.textContent = `A ${this.data.columns[this.a].label} | B ${this.data.columns[this.b].label}`;
      } else if (mode === "flicker") {
        put(this.source(this.showB ? B : A, entry, k));
        entry.badge.textContent = this.showB ? `B · ${this.data.columns[this.b].label}` : `A · ${this.data.columns[this.a].label}`;
        entry.el.dataset.showing = this.showB ? "B" : "A";
      } else {
        const key = `${mode}|${A && A.full}|${B && B.full}`;
        let img = this.combined.get(key);
        if (!img && A && B && entry.el.__near === true) {
          const fa = this.fullOf(A);
          const fb = this.fullOf(B);
          if (fa && fb) {
            img = combine(fa, fb, A.width, A.height, mode);
            this.combined.set(key, img);
          }
        }
        if (img) put(img);
        entry.badge.textContent = mode === "overlay"
          ? `A ${this.data.columns[this.a].label} red · B ${this.data.columns[this.b].label} blue · both dark`
          : `|A−B| ${this.data.columns[this.a].label} vs ${this.data.columns[this.b].label}`;
      }
    }
    this.reportDrawn();
  }

  // Once, on a page's first view: every near cell's first image is drawn (or failed to load), so the page may now
  // send its controls, which would have held these images back.
  reportDrawn(now = false) {
    if (!this.data || !this.data.first_view || this.drawnSent) return;
    const near = this.cells.filter((e) => e.el.__near === true);
    const settled = (c) => !c || !c.thumb || (images.has(c.thumb) && (images.get(c.thumb).ok || images.get(c.thumb).failed));
    if (!now && !(near.length && near.every((e) => settled(e.pair[0])))) return;
    this.drawnSent = true;
    clearTimeout(this.drawnTimer);
    window.__wbvFirstViewDrawn = true; // for a signal element that mounts after this
    document.dispatchEvent(new CustomEvent("wbv-first-view-drawn"));
  }

  keep(key) {
    kept.set(key, { view: { ...this.view }, focus: this.focus, split: this.split, locked: this.locked });
  }

  restore(key) {
    const k = kept.get(key);
    if (!k) return;
    this.view = { ...k.view };
    this.focus = k.focus;
    this.split = k.split;
    this.locked = k.locked;
    this.root.querySelector(".wbv-lock").checked = k.locked;
  }

  destroy() {
    clearTimeout(this.drawnTimer);
    document.removeEventListener("keydown", this.onKey);
    clearInterval(this.timer);
    this.observer.disconnect();
  }
}

export default function (component) {
  const { parentElement, data } = component;
  const root = parentElement.querySelector(".wbv");
  if (!root) return undefined;
  const key = component.key || "viewer";
  if (!root.__viewer) {
    root.__viewer = new Viewer(root, component);
    root.__viewer.restore(key);
  }
  const viewer = root.__viewer;
  viewer.api = component; // the newest setTriggerValue
  viewer.update(data);
  viewer.keep(key);
  return () => { viewer.keep(key); viewer.destroy(); root.__viewer = null; };
}
