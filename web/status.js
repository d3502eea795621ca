// The engineers' view: the same numbers as /metrics (parsed from it), with rates computed here;
// the last hour as small charts (GET /api/v1/status/history) and a map of the cameras with where
// recent hits happened (GET /api/v1/status/map), drawn as inline SVG over the outline of
// web/benelux.js: no map tiles, no network access beyond this server.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  let previous = null;   // {t, reads}

  // Prometheus text format -> [{name, labels:{}, value}]
  function parse(text) {
    const out = [];
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
      if (!m) continue;
      const labels = {};
      if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
      out.push({ name: m[1], labels, value: Number(m[4]) });
    }
    return out;
  }
  const sum = (ms, name) => ms.filter((m) => m.name === name).reduce((a, m) => a + m.value, 0);
  const fmt = (v) => Number.isInteger(v) ? v.toLocaleString() : v.toFixed(3);

  function fill(id, rows) {
    const body = $(id).querySelector('tbody');
    body.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement('tr');
      for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.appendChild(td); }
      return tr;
    }));
  }

  async function refresh() {
    let ms;
    try {
      const res = await fetch('/metrics', { cache: 'no-store' });
      if (res.status !== 200) throw new Error('HTTP ' + res.status);
      ms = parse(await res.text());
      $('conn').classList.remove('off');
      $('conn').textContent = 'live';
    } catch (e) {
      $('conn').classList.add('off');
      $('conn').textContent = 'unreachable';
      return;
    }
    const now = Date.now() / 1000;
    const reads = sum(ms, 'anpr_reads_total');
    const rate = previous && now > previous.t ? (reads - previous.reads) / (now - previous.t) : 0;
    previous = { t: now, reads };
    const figures = [
      ['reads/s', rate.toFixed(1)],
      ['reads', fmt(reads)],
      ['hits', fmt(sum(ms, 'anpr_hits_total'))],
      ['dead letters', fmt(sum(ms, 'anpr_deadletter_total'))],
      ['suppressed', fmt(sum(ms, 'anpr_suppressed_total'))],
      ['consumer lag', fmt(sum(ms, 'anpr_consumer_lag'))],
    ];
    $('figures').replaceChildren(...figures.map(([k, v]) => {
      const d = document.createElement('div');
      d.className = 'figure';
      const b = document.createElement('b');
      b.textContent = v;
      d.append(b, k);
      return d;
    }));
    fill('deadletters', ms.filter((m) => m.name === 'anpr_deadletter_total').map((m) => [m.labels.reason || '', fmt(m.value)]));
    fill('lag', ms.filter((m) => m.name === 'anpr_consumer_lag').map((m) => [m.labels.partition || '', fmt(m.value)]));
    const versions = new Map(ms.filter((m) => m.name === 'anpr_reference_list_info').map((m) => [m.labels.list, m.labels.version]));
    fill('lists', ms.filter((m) => m.name === 'anpr_reference_entries').map((m) => [m.labels.list || '', versions.get(m.labels.list) || '', fmt(m.value)]));
    fill('all', ms.filter((m) => m.name.startsWith('anpr_') && !m.name.endsWith('_bucket'))
      .map((m) => [m.name + (Object.keys(m.labels).length ? '{' + Object.entries(m.labels).map(([k, v]) => k + '="' + v + '"').join(',') + '}' : ''), fmt(m.value)]));
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const hhmm = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const HOUR = 3600 * 1000;

  // One small chart: the series over the last hour as a line, its latest value in the title.
  function chart(title, key, samples, digits) {
    const W = 300, H = 110, L = 40, R = 8, T = 24, B = 18;
    const pts = samples.filter((s) => typeof s[key] === 'number' && !isNaN(Date.parse(s.t)))
      .map((s) => ({ t: Date.parse(s.t), v: Math.max(0, s[key]) }));
    const fig = document.createElement('figure');
    fig.className = 'chart';
    fig.dataset.series = key;
    const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chart-svg' });
    const last = pts.length ? pts[pts.length - 1] : null;
    g.appendChild(svg('text', { x: 4, y: 15, class: 'chart-title' },
      title + ': ' + (last ? last.v.toFixed(digits) : 'no data yet')));
    const t1 = last ? last.t : Date.now();
    const t0 = pts.length ? Math.max(t1 - HOUR, pts[0].t) : t1 - HOUR;
    const shown = pts.filter((p) => p.t >= t0);
    const max = Math.max(...shown.map((p) => p.v), 0);
    const top = max > 0 ? max * 1.1 : 1;
    const x = (t) => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * (W - L - R);
    const y = (v) => T + (1 - v / top) * (H - T - B);
    g.appendChild(svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
    g.appendChild(svg('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
    g.appendChild(svg('text', { x: L - 4, y: T + 8, class: 'tick', 'text-anchor': 'end' }, top.toFixed(top < 10 ? 1 : 0)));
    g.appendChild(svg('text', { x: L - 4, y: H - B, class: 'tick', 'text-anchor': 'end' }, '0'));
    g.appendChild(svg('text', { x: L, y: H - 4, class: 'tick' }, hhmm(t0)));
    g.appendChild(svg('text', { x: W - R, y: H - 4, class: 'tick', 'text-anchor': 'end' }, hhmm(t1)));
    const line = svg('polyline', {
      class: 'series', fill: 'none',
      points: shown.map((p) => x(p.t).toFixed(1) + ',' + y(p.v).toFixed(1)).join(' '),
    });
    line.dataset.count = shown.length;
    g.appendChild(line);
    if (shown.length === 1) g.appendChild(svg('circle', { cx: x(shown[0].t), cy: y(shown[0].v), r: 2, class: 'series-dot' }));
    fig.appendChild(g);
    return fig;
  }

  async function refreshHistory() {
    let h;
    try {
      const res = await Auth.api('/api/v1/status/history', { cache: 'no-store' });
      if (!res.ok) return;
      h = await res.json();
    } catch (e) { return; }
    const samples = Array.isArray(h.samples) ? h.samples : [];
    $('charts').replaceChildren(
      chart('reads/s', 'reads_per_s', samples, 1),
      chart('hits/s', 'hits_per_s', samples, 2),
      chart('dead letters/s', 'deadletters_per_s', samples, 2),
      chart('consumer lag (messages)', 'consumer_lag', samples, 0));
  }

  // The map: an equirectangular projection around 51° N, which keeps the Benelux's shape.
  const MAP = { lon0: 2.3, lon1: 7.4, lat0: 49.3, lat1: 53.65, scale: 100, pad: 8 };
  const KX = Math.cos(51.2 * Math.PI / 180);
  const px = (lon) => MAP.pad + (lon - MAP.lon0) * KX * MAP.scale;
  const py = (lat) => MAP.pad + (MAP.lat1 - lat) * MAP.scale;
  const finite = (v) => typeof v === 'number' && isFinite(v);

  function drawMap(m) {
    const W = Math.ceil(px(MAP.lon1) + MAP.pad), H = Math.ceil(py(MAP.lat0) + MAP.pad);
    const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'map-svg', 'aria-label': 'cameras and recent hits' });
    g.appendChild(svg('rect', { x: 0, y: 0, width: W, height: H, class: 'sea' }));
    for (const [code, c] of Object.entries(typeof BENELUX === 'object' ? BENELUX : {})) {
      const d = c.outline.map(([lon, lat], i) => (i ? 'L' : 'M') + px(lon).toFixed(1) + ',' + py(lat).toFixed(1)).join(' ') + ' Z';
      const path = svg('path', { d, class: 'country' });
      path.dataset.country = code;
      g.appendChild(path);
      g.appendChild(svg('text', { x: px(c.label[0]), y: py(c.label[1]), class: 'country-label', 'text-anchor': 'middle' }, code));
    }
    // Hits: one marker per place, larger for more hits.
    const places = new Map();
    for (const h of m.hits || []) {
      if (!finite(h.lat) || !finite(h.lon)) continue;
      const k = h.lat.toFixed(4) + ',' + h.lon.toFixed(4);
      const p = places.get(k) || { lat: h.lat, lon: h.lon, n: 0, newest: '', camera: h.camera_id };
      p.n++;
      if (String(h.ts) > p.newest) p.newest = String(h.ts);
      places.set(k, p);
    }
    for (const p of places.values()) {
      const c = svg('circle', { cx: px(p.lon).toFixed(1), cy: py(p.lat).toFixed(1), r: (4 + 2 * Math.sqrt(p.n)).toFixed(1), class: 'hit-marker' });
      c.dataset.count = p.n;
      c.appendChild(svg('title', {}, p.n + (p.n === 1 ? ' hit' : ' hits') + ' at camera ' + p.camera + ', newest ' + p.newest));
      g.appendChild(c);
    }
    const cams = (m.cameras || []).filter((c) => finite(c.lat) && finite(c.lon));
    for (const cam of cams) {
      const c = svg('circle', { cx: px(cam.lon).toFixed(1), cy: py(cam.lat).toFixed(1), r: 3.5, class: 'camera' });
      c.dataset.cameraId = cam.camera_id;
      c.appendChild(svg('title', {}, cam.site + ' (' + cam.camera_id + ', ' + cam.country + ')'));
      g.appendChild(c);
    }
    $('map').replaceChildren(g);
    const nh = (m.hits || []).length;
    $('map-legend').textContent = cams.length + ' camera' + (cams.length === 1 ? '' : 's') + ' (dark dots) · ' +
      nh + ' recent hit' + (nh === 1 ? '' : 's') + ' (red; the newest on the live feed, hits on covert lists never shown). ' +
      'Outline drawn by hand; no map service is used.';
  }

  async function refreshMap() {
    try {
      const res = await Auth.api('/api/v1/status/map', { cache: 'no-store' });
      if (!res.ok) return;
      drawMap(await res.json());
    } catch (e) { /* kept as it was */ }
  }

  function refreshAll() { refresh(); refreshHistory(); refreshMap(); }
  Auth.start(() => { refreshAll(); setInterval(refreshAll, 5000); });
})();
