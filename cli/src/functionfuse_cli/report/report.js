// functionfuse run report: draws the run record and the layout embedded in #ff-data.
// The layout (positions, groups, edges) is computed in Python; this script only draws,
// and writes every text of the record with textContent (never as HTML).
(function () {
  'use strict';

  const DATA = JSON.parse(document.getElementById('ff-data').textContent);
  const RUN = DATA.record;
  const L = DATA.layout;
  const NODES = RUN.nodes || [];
  const ITEMS = L.label.length;

  const STATUS = {
    ran: { label: 'ran', color: '#37b24d', ink: '#fff' },
    stored: { label: 'from storage', color: '#74a9cf', ink: '#0b2239' },
    reran: { label: 're-ran', color: '#f59f00', ink: '#2b1a00' },
    failed: { label: 'failed', color: '#e03131', ink: '#fff' },
    blocked: { label: 'blocked', color: '#868e96', ink: '#fff' },
    not_saved: { label: 'not saved', color: '#9775fa', ink: '#fff' },
    pending: { label: 'pending', color: '#e9ecef', ink: '#343a40' },
  };
  const UNKNOWN = { label: 'unknown', color: '#ced4da', ink: '#343a40' };
  const status = (node) => STATUS[node.status] || UNKNOWN;
  const $ = (id) => document.getElementById(id);

  const byName = new Map();
  NODES.forEach((node, i) => byName.set(node.name, i));
  const children = NODES.map(() => []);
  NODES.forEach((node, i) => {
    for (const p of node.parents || []) if (byName.has(p)) children[byName.get(p)].push(i);
    if (node.instance && byName.has(node.instance)) children[byName.get(node.instance)].push(i);
  });
  const counts = {};
  for (const node of NODES) counts[node.status] = (counts[node.status] || 0) + 1;

  // -- text helpers -----------------------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid != null) e.append(kid);
    return e;
  }
  function seconds(s) {
    if (s == null || !isFinite(s)) return '—';
    if (s === 0) return '0 s';
    if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 1 : 0) + ' ms';
    if (s < 120) return s.toFixed(2) + ' s';
    const m = Math.floor(s / 60);
    return m < 120 ? `${m} min ${Math.round(s - 60 * m)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
  }
  function bytes(n) {
    if (n == null) return '—';
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let k = 0;
    while (n >= 1000 && k < units.length - 1) { n /= 1000; k++; }
    return (k ? n.toFixed(n < 10 ? 1 : 0) : String(n)) + ' ' + units[k];
  }
  function when(t) {
    return t == null ? '—' : new Date(t * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }
  const swatch = (color) => el('span', { class: 'swatch', style: `background:${color}` });

  // -- totals and legend ------------------------------------------------------------------

  function totals() {
    const dl = $('totals');
    const add = (key, label, value, color) => {
      dl.append(el('div', { class: 'total', 'data-key': key },
        el('dt', {}, color ? swatch(color) : null, label), el('dd', { text: String(value) })));
    };
    add('nodes', 'nodes', NODES.length);
    for (const key of ['ran', 'stored', 'reran', 'failed', 'blocked', 'not_saved', 'pending']) {
      if (['ran', 'stored', 'reran', 'failed', 'blocked'].includes(key) || counts[key]) {
        add(key, STATUS[key].label, counts[key] || 0, STATUS[key].color);
      }
    }
    const duration = RUN.ended != null && RUN.started != null ? RUN.ended - RUN.started : null;
    add('duration', 'duration', RUN.state === 'running' ? 'running' : seconds(duration));
    add('state', 'state', RUN.state || '—');
    add('backend', 'backend', RUN.backend || '—');
    add('host', 'host', RUN.host || '—');
    add('started', 'started', when(RUN.started));
    add('run_id', 'run id', RUN.run_id || '—');
    if (RUN.error) { $('run-error').textContent = RUN.error; $('run-error').hidden = false; }
    const legend = $('legend');
    for (const [key, s] of Object.entries(STATUS)) {
      if (['ran', 'stored', 'reran', 'failed', 'blocked'].includes(key) || counts[key]) {
        legend.append(el('li', { 'data-status': key }, swatch(s.color), `${s.label} (${counts[key] || 0})`));
      }
    }
    legend.append(el('li', {}, '⬣ class node'));
    legend.append(el('li', {}, '▢ method call'));
    legend.append(el('li', {}, el('span', { class: 'shape-key dashed' }), 'order of the calls'));
    legend.append(el('li', {}, '▣ ×N: like nodes grouped'));
  }

  // -- the graph canvas -------------------------------------------------------------------

  const canvas = $('graph');
  const ctx = canvas.getContext('2d');
  const view = { s: 1, tx: 0, ty: 0, w: 0, h: 0, dpr: 1 };
  let selectedNode = -1;
  let groupSelected = -1; // a group item whose members the details panel lists
  let matches = new Set(); // items that match the search
  let framePending = false;
  const api = { ready: false, items: ITEMS, nodes: NODES.length, drawnItems: 0, frames: 0, timings: {} };

  const itemColor = [];
  const itemStripes = []; // for a group: [[color, fraction], ...]
  for (let i = 0; i < ITEMS; i++) {
    const members = L.members[i];
    if (members.length === 1) { itemColor.push(status(NODES[members[0]]).color); itemStripes.push(null); continue; }
    const c = {};
    for (const m of members) c[NODES[m].status] = (c[NODES[m].status] || 0) + 1;
    const keys = Object.keys(c).sort((a, b) => Object.keys(STATUS).indexOf(a) - Object.keys(STATUS).indexOf(b));
    itemColor.push(keys.length === 1 ? status(NODES[members[0]]).color : 'mixed');
    itemStripes.push(keys.map((k) => [(STATUS[k] || UNKNOWN).color, c[k] / members.length]));
  }
  const shortLabel = new Array(ITEMS);

  function fit(minScale) {
    const sx = (view.w - 40) / Math.max(L.width, 1);
    const sy = (view.h - 40) / Math.max(L.height, 1);
    view.s = Math.max(minScale, Math.min(sx, sy, 1.25));
    view.tx = Math.max(20, (view.w - L.width * view.s) / 2);
    view.ty = Math.max(20, (view.h - L.height * view.s) / 2);
  }
  function resizeGraph() {
    const r = canvas.getBoundingClientRect();
    view.dpr = window.devicePixelRatio || 1;
    view.w = r.width; view.h = r.height;
    canvas.width = Math.round(r.width * view.dpr);
    canvas.height = Math.round(r.height * view.dpr);
  }
  function requestDraw() {
    if (framePending) return;
    framePending = true;
    requestAnimationFrame(() => { framePending = false; drawGraph(); });
  }

  function itemPath(i, x, y, w, h) {
    const kind = NODES[L.members[i][0]].kind;
    ctx.beginPath();
    if (kind === 'class') { // an octagon: a stateful instance
      const c = Math.min(8, h / 3);
      ctx.moveTo(x + c, y); ctx.lineTo(x + w - c, y); ctx.lineTo(x + w, y + c); ctx.lineTo(x + w, y + h - c);
      ctx.lineTo(x + w - c, y + h); ctx.lineTo(x + c, y + h); ctx.lineTo(x, y + h - c); ctx.lineTo(x, y + c);
      ctx.closePath();
    } else if (kind === 'method') {
      const r = Math.min(10, h / 2);
      if (ctx.roundRect) ctx.roundRect(x, y, w, h, r); else ctx.rect(x, y, w, h);
    } else {
      ctx.rect(x, y, w, h);
    }
  }

  function drawGraph() {
    const t0 = performance.now();
    const { s, tx, ty, dpr } = view;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, view.w, view.h);
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * tx, dpr * ty);
    const x0 = -tx / s, y0 = -ty / s, x1 = (view.w - tx) / s, y1 = (view.h - ty) / s;
    const X = L.x, Y = L.y, W = L.w, H = L.h, E = L.edges;
    const selItem = selectedNode >= 0 ? L.node_item[selectedNode] : groupSelected;

    // edges: one path per style; an edge is skipped when its box misses the view
    const solid = new Path2D(), dashed = new Path2D(), near = new Path2D();
    for (let k = 0; k < E.length; k += 3) {
      const a = E[k], b = E[k + 1];
      const ax = X[a] + W[a], ay = Y[a] + H[a] / 2, bx = X[b], by = Y[b] + H[b] / 2;
      if (Math.max(ax, bx) < x0 || Math.min(ax, bx) > x1 || Math.max(ay, by) < y0 || Math.min(ay, by) > y1) continue;
      const path = a === selItem || b === selItem ? near : E[k + 2] ? dashed : solid;
      const mx = (ax + bx) / 2;
      path.moveTo(ax, ay);
      path.bezierCurveTo(mx, ay, mx, by, bx, by);
    }
    ctx.lineWidth = 1.2 / Math.max(s, 0.3);
    ctx.strokeStyle = '#adb5bd';
    ctx.setLineDash([]);
    ctx.stroke(solid);
    ctx.setLineDash([5, 4]);
    ctx.strokeStyle = '#495057';
    ctx.stroke(dashed);
    ctx.setLineDash([]);
    ctx.lineWidth = 2.5 / Math.max(s, 0.3);
    ctx.strokeStyle = '#1c7ed6';
    ctx.stroke(near);

    // nodes
    const detailed = s * 28 >= 6; // big enough for shapes and borders
    const labels = s >= 0.45;
    let drawn = 0;
    ctx.lineWidth = 1 / s;
    ctx.font = '12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'center';
    for (let i = 0; i < ITEMS; i++) {
      const x = X[i], y = Y[i], w = W[i], h = H[i];
      if (x > x1 || x + w < x0 || y > y1 || y + h < y0) continue;
      drawn++;
      const stripes = itemStripes[i];
      if (!detailed) {
        ctx.fillStyle = stripes ? stripes[0][0] : itemColor[i];
        ctx.fillRect(x, y, w, h);
        continue;
      }
      itemPath(i, x, y, w, h);
      if (stripes) {
        ctx.save();
        ctx.clip();
        let left = x;
        for (const [color, part] of stripes) { ctx.fillStyle = color; ctx.fillRect(left, y, w * part + 1, h); left += w * part; }
        ctx.restore();
        ctx.strokeStyle = '#212529';
        ctx.stroke();
        ctx.strokeRect(x + 3 / s, y + 3 / s, w - 6 / s, h - 6 / s); // a double border: a group
      } else {
        ctx.fillStyle = itemColor[i];
        ctx.fill();
        ctx.strokeStyle = '#343a40';
        ctx.stroke();
      }
      if (labels) {
        if (shortLabel[i] === undefined) shortLabel[i] = fitText(L.label[i], w - 12);
        const text = shortLabel[i];
        if (stripes) { // a light plate: the label stays readable over any stripes
          const width = ctx.measureText(text).width + 6;
          ctx.fillStyle = 'rgba(255,255,255,.85)';
          ctx.fillRect(x + (w - width) / 2, y + h / 2 - 8, width, 16);
          ctx.fillStyle = '#212529';
        } else {
          ctx.fillStyle = status(NODES[L.members[i][0]]).ink;
        }
        ctx.fillText(text, x + w / 2, y + h / 2 + 0.5);
      }
    }
    // marks over the nodes: search matches, then the selection
    ctx.lineWidth = 3 / s;
    ctx.strokeStyle = '#fab005';
    for (const i of matches) {
      if (i !== selItem) ctx.strokeRect(X[i] - 3 / s, Y[i] - 3 / s, W[i] + 6 / s, H[i] + 6 / s);
    }
    if (selItem >= 0) {
      ctx.strokeStyle = '#1c7ed6';
      ctx.strokeRect(X[selItem] - 4 / s, Y[selItem] - 4 / s, W[selItem] + 8 / s, H[selItem] + 8 / s);
    }
    api.drawnItems = drawn;
    api.frames++;
    api.timings.lastFrameMs = performance.now() - t0;
  }

  function fitText(text, width) {
    if (ctx.measureText(text).width <= width) return text;
    let lo = 0, hi = text.length;
    while (lo < hi) { // the longest prefix that fits with an ellipsis
      const mid = (lo + hi + 1) >> 1;
      if (ctx.measureText(text.slice(0, mid) + '…').width <= width) lo = mid; else hi = mid - 1;
    }
    return text.slice(0, lo) + '…';
  }

  function itemAt(clientX, clientY) {
    const r = canvas.getBoundingClientRect();
    const wx = (clientX - r.left - view.tx) / view.s, wy = (clientY - r.top - view.ty) / view.s;
    const pad = 3 / view.s;
    for (let i = ITEMS - 1; i >= 0; i--) {
      if (wx >= L.x[i] - pad && wx <= L.x[i] + L.w[i] + pad && wy >= L.y[i] - pad && wy <= L.y[i] + L.h[i] + pad) return i;
    }
    return -1;
  }

  function zoomAt(factor, cx, cy) {
    const s = Math.min(4, Math.max(0.001, view.s * factor));
    view.tx = cx - (cx - view.tx) * (s / view.s);
    view.ty = cy - (cy - view.ty) * (s / view.s);
    view.s = s;
    requestDraw();
  }

  function showItem(i) {
    // pan (and zoom in when tiny) so that item i is well inside the view
    const x = L.x[i] * view.s + view.tx, y = L.y[i] * view.s + view.ty;
    const w = L.w[i] * view.s, h = L.h[i] * view.s;
    if (view.s < 0.45) view.s = 0.8;
    if (view.s === 0.8 || x < 10 || y < 10 || x + w > view.w - 10 || y + h > view.h - 10) {
      view.tx = view.w / 2 - (L.x[i] + L.w[i] / 2) * view.s;
      view.ty = view.h / 2 - (L.y[i] + L.h[i] / 2) * view.s;
    }
    requestDraw();
  }

  let drag = null;
  canvas.addEventListener('pointerdown', (e) => {
    drag = { x: e.clientX, y: e.clientY, tx: view.tx, ty: view.ty, moved: false };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    canvas.classList.add('panning');
    view.tx = drag.tx + dx; view.ty = drag.ty + dy;
    requestDraw();
  });
  canvas.addEventListener('pointerup', (e) => {
    if (drag && !drag.moved) {
      const i = itemAt(e.clientX, e.clientY);
      if (i >= 0) selectItem(i, false);
    }
    drag = null;
    canvas.classList.remove('panning');
  });
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = canvas.getBoundingClientRect();
    zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  $('zoom-in').addEventListener('click', () => zoomAt(1.25, view.w / 2, view.h / 2));
  $('zoom-out').addEventListener('click', () => zoomAt(0.8, view.w / 2, view.h / 2));
  $('zoom-fit').addEventListener('click', () => { fit(0.001); requestDraw(); });

  // -- details ----------------------------------------------------------------------------

  function nodeButton(i) {
    return el('button', { type: 'button', 'data-node': NODES[i].name, onclick: () => select(NODES[i].name) },
      swatch(status(NODES[i]).color), ' ', NODES[i].name);
  }
  function links(indexes, limit) {
    const box = el('div', { class: 'links' });
    for (const i of indexes.slice(0, limit)) box.append(nodeButton(i));
    if (indexes.length > limit) box.append(el('span', { text: `… ${indexes.length - limit} more` }));
    return box;
  }
  function why(node) {
    if (node.reasons && node.reasons.length) return el('ul', {}, ...node.reasons.map((r) => el('li', { text: r })));
    const plain = {
      stored: 'its stored result was up to date: read from storage, not run',
      ran: 'no stored result to use (none yet, or no storage)',
      failed: 'no stored result to use (none yet, or no storage), so it ran, and raised',
      blocked: `not run: ${node.blocked_by ? `parent ${node.blocked_by}` : 'a parent'} failed`,
      pending: 'never reached (the run stopped first, or is still running)',
      not_saved: 'ran; its result is not kept in storage',
    };
    return plain[node.status] || '—';
  }

  function showNode(i) {
    const node = NODES[i], s = status(node);
    const box = $('details');
    box.replaceChildren();
    box.append(el('h2', { text: node.name }));
    box.append(el('p', { class: 'function', text: `${node.kind || 'function'} ${node.function || ''}` }));
    const dl = el('dl');
    const row = (key, label, value) => {
      if (value == null || value === '') return;
      dl.append(el('dt', { text: label }), el('dd', { 'data-field': key }, value));
    };
    row('status', 'status', el('span', {}, swatch(s.color), ' ', s.label));
    row('reasons', 'why', why(node));
    if (node.blocked_by && byName.has(node.blocked_by)) row('blocked_by', 'blocked by', nodeButton(byName.get(node.blocked_by)));
    if (node.start != null && node.end != null) row('duration', 'duration', seconds(node.end - node.start));
    else if (node.start != null) row('duration', 'duration', 'started, no end recorded (still running, or the run was stopped)');
    if (node.start != null && RUN.started != null) row('start', 'started', `+${seconds(node.start - RUN.started)} into the run`);
    row('worker', 'worker', node.worker);
    if (node.retries) row('retries', 'retries', String(node.retries));
    if (node.size != null) row('size', 'stored size', bytes(node.size));
    if (node.error) row('error', 'error', el('pre', { class: 'error', text: node.error }));
    if (node.traceback) row('traceback', 'traceback', el('pre', { class: 'error', text: node.traceback }));
    if (node.fingerprint && typeof node.fingerprint === 'object') {
      const parts = el('dl');
      for (const [k, v] of Object.entries(node.fingerprint)) parts.append(el('dt', { text: k }), el('dd', { text: String(v) }));
      row('fingerprint', 'fingerprint', parts);
    }
    if (node.result_repr != null) row('result', 'result', el('pre', { text: node.result_repr }));
    if (node.instance && byName.has(node.instance)) row('instance', 'called on', nodeButton(byName.get(node.instance)));
    const parents = (node.parents || []).filter((p) => byName.has(p)).map((p) => byName.get(p));
    if (parents.length) row('parents', 'parents', links(parents, 40));
    if (children[i].length) row('children', 'children', links(children[i], 40));
    box.append(dl);
  }

  function showGroup(item) {
    const members = L.members[item];
    const box = $('details');
    box.replaceChildren();
    box.append(el('h2', { text: L.label[item] }));
    const first = NODES[members[0]];
    box.append(el('p', { class: 'function', text: `${members.length} nodes of ${first.function || first.name} with the same parents and children` }));
    const dl = el('dl');
    const c = {};
    for (const m of members) c[NODES[m].status] = (c[NODES[m].status] || 0) + 1;
    for (const [k, n] of Object.entries(c)) dl.append(el('dt', {}, swatch((STATUS[k] || UNKNOWN).color), ' ', (STATUS[k] || UNKNOWN).label), el('dd', { text: String(n) }));
    const timed = members.filter((m) => NODES[m].start != null && NODES[m].end != null).map((m) => NODES[m].end - NODES[m].start);
    if (timed.length) {
      timed.sort((a, b) => a - b);
      dl.append(el('dt', { text: 'durations' }), el('dd', { text: `median ${seconds(timed[timed.length >> 1])}, longest ${seconds(timed[timed.length - 1])}` }));
    }
    box.append(dl, el('h2', { text: 'Members' }));
    const list = el('div', { class: 'members' });
    list.append(links(members, 2000));
    box.append(list);
  }

  function selectItem(item, pan) {
    const members = L.members[item];
    if (members.length === 1) { selectedNode = members[0]; groupSelected = -1; showNode(members[0]); }
    else { selectedNode = -1; groupSelected = item; showGroup(item); }
    if (pan) showItem(item);
    requestDraw();
    drawTimeline();
  }

  function select(name) {
    const i = byName.get(name);
    if (i === undefined) return false;
    selectedNode = i;
    groupSelected = -1;
    showNode(i);
    showItem(L.node_item[i]);
    drawTimeline();
    return true;
  }

  // -- search -----------------------------------------------------------------------------

  const search = $('search');
  const results = $('search-results');
  let searchTimer = 0;
  function runSearch() {
    const q = search.value.trim();
    results.replaceChildren();
    matches = new Set();
    search.removeAttribute('aria-invalid');
    if (!q) { results.hidden = true; $('search-count').textContent = ''; requestDraw(); return []; }
    let test;
    const re = /^\/(.*)\/([gimsuy]*)$/.exec(q);
    if (re) {
      try { const rx = new RegExp(re[1], re[2].replace('g', '')); test = (name) => rx.test(name); }
      catch (err) {
        search.setAttribute('aria-invalid', 'true');
        $('search-count').textContent = 'not a valid regular expression: ' + err.message;
        results.hidden = true; requestDraw(); return [];
      }
    } else {
      const needle = q.toLowerCase();
      test = (name) => name.toLowerCase().includes(needle);
    }
    const found = [];
    NODES.forEach((node, i) => { if (test(node.name)) found.push(i); });
    for (const i of found) matches.add(L.node_item[i]);
    const limit = 200;
    for (const i of found.slice(0, limit)) {
      results.append(el('li', {}, el('button', { type: 'button', 'data-node': NODES[i].name, onclick: () => { select(NODES[i].name); results.hidden = true; } },
        swatch(status(NODES[i]).color), NODES[i].name)));
    }
    if (found.length > limit) results.append(el('li', { class: 'more', text: `… and ${found.length - limit} more (highlighted on the graph)` }));
    $('search-count').textContent = `${found.length} match${found.length === 1 ? '' : 'es'}`;
    results.hidden = found.length === 0;
    requestDraw();
    return found.map((i) => NODES[i].name);
  }
  search.addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 120); });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(searchTimer);
      const found = runSearch();
      if (found.length) { select(found[0]); results.hidden = found.length === 1; }
    } else if (e.key === 'Escape') { search.value = ''; runSearch(); }
  });

  // -- timeline ---------------------------------------------------------------------------

  const tl = $('timeline');
  const tctx = tl.getContext('2d');
  const LANE = 20, AXIS = 22;
  const timed = [];
  // a node that started but has no end was running when the record was written (a killed
  // run's straggler): its bar goes to the end of the timeline
  NODES.forEach((node, i) => { if (typeof node.start === 'number') timed.push(i); });
  const laneOf = new Map();
  const lanes = []; // {name, bars: [node index]}
  timed.sort((a, b) => NODES[a].start - NODES[b].start);
  for (const i of timed) {
    const worker = NODES[i].worker || '(worker not recorded)';
    if (!laneOf.has(worker)) { laneOf.set(worker, lanes.length); lanes.push({ name: worker, bars: [] }); }
    lanes[laneOf.get(worker)].bars.push(i);
  }
  let tStart = Infinity, tEnd = -Infinity;
  for (const i of timed) { tStart = Math.min(tStart, NODES[i].start); tEnd = Math.max(tEnd, NODES[i].end ?? NODES[i].start); }
  if (RUN.started != null && RUN.started < tStart) tStart = RUN.started;
  if (RUN.ended != null && RUN.ended > tEnd) tEnd = RUN.ended;
  const endOf = (i) => (typeof NODES[i].end === 'number' ? NODES[i].end : tEnd);
  const tw = { w: 0, dpr: 1 };

  function setupTimeline() {
    if (!lanes.length) { $('timeline-empty').hidden = false; $('timeline-wrap').hidden = true; return; }
    for (const lane of lanes) {
      $('lanes').append(el('li', { class: 'lane', title: lane.name, 'data-worker': lane.name, text: `${lane.name} (${lane.bars.length})` }));
    }
  }
  function resizeTimeline() {
    if (!lanes.length) return;
    tw.dpr = window.devicePixelRatio || 1;
    tw.w = tl.getBoundingClientRect().width;
    const h = AXIS + lanes.length * LANE + 4;
    tl.style.height = h + 'px';
    tl.width = Math.round(tw.w * tw.dpr);
    tl.height = Math.round(h * tw.dpr);
  }
  const tx = (t) => 8 + ((t - tStart) / Math.max(tEnd - tStart, 1e-9)) * (tw.w - 16);

  function drawTimeline() {
    if (!lanes.length) return;
    const h = AXIS + lanes.length * LANE + 4;
    tctx.setTransform(tw.dpr, 0, 0, tw.dpr, 0, 0);
    tctx.fillStyle = '#fff';
    tctx.fillRect(0, 0, tw.w, h);
    for (let k = 0; k < lanes.length; k += 2) { tctx.fillStyle = '#f1f3f5'; tctx.fillRect(0, AXIS + k * LANE, tw.w, LANE); }
    // the axis: about 8 ticks at round seconds
    const span = Math.max(tEnd - tStart, 1e-9);
    const raw = span / 8, p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * p).find((v) => v >= raw);
    tctx.font = '11px system-ui, sans-serif';
    tctx.textBaseline = 'middle';
    tctx.textAlign = 'center';
    for (let t = 0; t <= span + 1e-9; t += step) {
      const x = tx(tStart + t);
      tctx.fillStyle = '#dee2e6';
      tctx.fillRect(Math.round(x), AXIS - 4, 1, h - AXIS + 4);
      tctx.fillStyle = '#6c757d';
      tctx.fillText(seconds(t), x, AXIS / 2);
    }
    const selected = []; // the selected node's bar, or every bar of the selected group
    lanes.forEach((lane, k) => {
      const y = AXIS + k * LANE + 3;
      for (const i of lane.bars) {
        const node = NODES[i];
        const x = tx(node.start), w = Math.max(1, tx(endOf(i)) - x);
        tctx.fillStyle = status(node).color;
        tctx.fillRect(x, y, w, LANE - 6);
        if (i === selectedNode || (groupSelected >= 0 && L.node_item[i] === groupSelected)) selected.push([x, y, w]);
      }
    });
    tctx.strokeStyle = '#1c7ed6';
    tctx.lineWidth = 2;
    for (const [x, y, w] of selected) tctx.strokeRect(x - 2, y - 2, w + 4, LANE - 2);
  }
  function barAt(clientX, clientY) {
    const r = tl.getBoundingClientRect();
    const x = clientX - r.left, k = Math.floor((clientY - r.top - AXIS) / LANE);
    if (k < 0 || k >= lanes.length) return -1;
    let best = -1, bestGap = 4; // the bar under the pointer, or within 4px of it
    for (const i of lanes[k].bars) {
      const a = tx(NODES[i].start), b = Math.max(a + 1, tx(endOf(i)));
      const gap = x < a ? a - x : x > b ? x - b : 0;
      if (gap <= bestGap) { best = i; bestGap = gap; }
    }
    return best;
  }
  const tip = $('timeline-tip');
  tl.addEventListener('mousemove', (e) => {
    const i = barAt(e.clientX, e.clientY);
    if (i < 0) { tip.hidden = true; tl.style.cursor = 'default'; return; }
    const node = NODES[i];
    const took = typeof node.end === 'number' ? seconds(node.end - node.start) : 'no end recorded';
    tip.textContent = `${node.name} · ${status(node).label} · ${took}`;
    tip.style.left = e.clientX + 12 + 'px';
    tip.style.top = e.clientY + 12 + 'px';
    tip.hidden = false;
    tl.style.cursor = 'pointer';
  });
  tl.addEventListener('mouseleave', () => { tip.hidden = true; });
  tl.addEventListener('click', (e) => { const i = barAt(e.clientX, e.clientY); if (i >= 0) select(NODES[i].name); });

  // -- for tests and automation: where things are drawn (a canvas has no DOM to query),
  //    how much was drawn and how long it took; select and search as a user would -----------

  api.select = select;
  api.search = (q) => { search.value = q; return runSearch(); };
  api.boxOf = (name) => { // the node's box on screen (CSS pixels, viewport coordinates)
    if (!byName.has(name)) return null;
    const i = L.node_item[byName.get(name)], r = canvas.getBoundingClientRect();
    return { x: r.left + view.tx + L.x[i] * view.s, y: r.top + view.ty + L.y[i] * view.s, w: L.w[i] * view.s, h: L.h[i] * view.s };
  };
  api.barOf = (name) => { // the node's bar on the timeline (viewport coordinates)
    const i = byName.get(name);
    if (i === undefined) return null;
    const k = lanes.findIndex((lane) => lane.bars.includes(i));
    if (k < 0) return null;
    const r = tl.getBoundingClientRect(), x = tx(NODES[i].start);
    return { x: r.left + x, y: r.top + AXIS + k * LANE + 3, w: Math.max(1, tx(endOf(i)) - x), h: LANE - 6 };
  };
  api.view = view;
  window.functionfuseReport = api;

  // -- start ------------------------------------------------------------------------------

  totals();
  setupTimeline();
  resizeGraph();
  fit(0.25);
  drawGraph();
  resizeTimeline();
  drawTimeline();
  new ResizeObserver(() => { resizeGraph(); requestDraw(); resizeTimeline(); drawTimeline(); }).observe($('graph-wrap'));
  api.timings.script = performance.now();
  requestAnimationFrame(() => {
    api.timings.drawn = performance.now();
    api.ready = true;
    document.documentElement.dataset.ready = 'true';
  });
})();
