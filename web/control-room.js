// The control-room page: live hits over an event stream, filters, acknowledgement.
'use strict';
(() => {
  const hits = new Map();      // hit_id -> {hit, acked, ackedBy, el}
  let lastEventId = '';
  let me = null;
  const $ = (id) => document.getElementById(id);
  const filters = $('filters');
  const seen = { country: new Set(), list: new Set(), category: new Set() };
  const URGENT = 10;           // priority 0..10: a priority hit

  // Character alignment of the plate as read and as listed (edit distance with back-tracking),
  // so the differing characters can be highlighted.
  function align(a, b) {
    const n = a.length, m = b.length;
    const d = Array.from({ length: n + 1 }, (_, i) => Array.from({ length: m + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= n; i++)
      for (let j = 1; j <= m; j++)
        d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    const ra = new Array(n).fill(false), rb = new Array(m).fill(false);
    let i = n, j = m;
    while (i > 0 || j > 0) {
      if (i > 0 && j > 0 && d[i][j] === d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)) {
        if (a[i - 1] !== b[j - 1]) { ra[i - 1] = true; rb[j - 1] = true; }
        i--; j--;
      } else if (i > 0 && d[i][j] === d[i - 1][j] + 1) { ra[i - 1] = true; i--; }
      else { rb[j - 1] = true; j--; }
    }
    return [ra, rb];
  }

  function plateInto(el, text, marks) {
    el.textContent = '';
    for (let k = 0; k < text.length; k++) {
      const s = document.createElement(marks[k] ? 'mark' : 'span');
      s.textContent = text[k];
      el.appendChild(s);
    }
  }

  function age(ts) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min ago';
  }

  function addOption(kind, value) {
    if (!value || seen[kind].has(value)) return;
    seen[kind].add(value);
    const o = document.createElement('option');
    o.textContent = value;
    filters.elements[kind].appendChild(o);
  }

  function render(entry) {
    const h = entry.hit;
    const li = $('hit-template').content.firstElementChild.cloneNode(true);
    li.dataset.hitId = h.hit_id;
    const read = h.read_plate || h.plate_normalized || h.plate;
    const listed = h.matched_plate;
    const [ra, rb] = h.match_kind === 'exact' ? [[], []] : align(read, listed);
    plateInto(li.querySelector('.plate.read'), read, ra);
    plateInto(li.querySelector('.plate.listed'), listed, rb);
    li.querySelector('.plate.listed').title = h.matched_plate_display || listed;
    if (h.thumbnail_jpeg) {
      const img = li.querySelector('.thumb');
      img.src = 'data:image/jpeg;base64,' + h.thumbnail_jpeg;
      img.hidden = false;
    } else if (h.image_error) {
      li.querySelector('.img-error').textContent = 'camera image unusable (' + h.image_error + ')';
    }
    const urgent = h.priority <= URGENT;
    li.classList.toggle('urgent', urgent);
    li.classList.add('action-' + h.action);
    li.querySelector('.prio').textContent = (urgent ? 'PRIORITY ' : 'priority ') + h.priority;
    li.querySelector('.category').textContent = h.category.replace(/_/g, ' ');
    li.querySelector('.action').textContent = h.action === 'observe' ? 'observe (discreet: do not alert the driver)' : h.action;
    li.querySelector('.kind').textContent = h.match_kind === 'exact' ? 'exact match' :
      (h.match_kind === 'ocr' ? 'OCR-tolerant match' : 'match with a missing or extra character') +
      ', ' + h.differences + ' difference' + (h.differences === 1 ? '' : 's') + ': check the plate by eye';
    li.querySelector('.kind').classList.toggle('fuzzy', h.match_kind !== 'exact');
    li.querySelector('.list').textContent = 'list ' + h.list_id + ' (' + h.list_owner + ', version ' + h.list_version + ') · ref ' + h.reference;
    li.querySelector('.note').textContent = h.note || '';
    li.querySelector('.site').textContent = (h.site || h.camera_id) + (h.camera_country ? ' (' + h.camera_country + ')' : '');
    li.querySelector('.loc').textContent = h.lat !== undefined ? h.lat.toFixed(4) + ', ' + h.lon.toFixed(4) +
      (h.direction ? ' · ' + h.direction : '') + (h.lane !== undefined ? ' · lane ' + h.lane : '') : '';
    li.querySelector('.time').dataset.ts = h.ts;
    li.querySelector('.ack').addEventListener('click', () => acknowledge(entry));
    entry.el = li;
    updateAck(entry);
    if (window.Followup) Followup.decorate(li, h);  // accept / reject / outcome (followup.js)
    updateTime(li);
  }

  function updateTime(li) {
    const t = li.querySelector('.time');
    t.textContent = new Date(t.dataset.ts).toLocaleString() + ' · ' + age(t.dataset.ts);
  }

  function updateAck(entry) {
    entry.el.classList.toggle('is-acked', entry.acked);
    entry.el.querySelector('.ack').hidden = entry.acked;
    entry.el.querySelector('.acked').textContent = entry.acked ? 'acknowledged by ' + entry.ackedBy : '';
  }

  function visible(entry) {
    const f = filters.elements, h = entry.hit;
    if (entry.acked && !f.acked.checked && !(window.Followup && Followup.pending(h.hit_id))) return false;
    if (f.country.value && h.camera_country !== f.country.value) return false;
    if (f.list.value && h.list_id !== f.list.value) return false;
    if (f.category.value && h.category !== f.category.value) return false;
    if (f.action.value && h.action !== f.action.value) return false;
    if (h.priority > Number(f.priority.value || 100)) return false;
    return true;
  }

  function redraw() {
    const ol = $('hits');
    const list = [...hits.values()].filter(visible).sort((a, b) => {
      const ua = a.hit.priority <= URGENT, ub = b.hit.priority <= URGENT;
      if (ua !== ub) return ua ? -1 : 1;
      return Date.parse(b.hit.ts) - Date.parse(a.hit.ts);
    });
    ol.replaceChildren(...list.map((e) => e.el));
    const open = [...hits.values()].filter((e) => !e.acked).length;
    $('counts').textContent = open + ' open, ' + (hits.size - open) + ' acknowledged';
    $('empty').hidden = list.length > 0;
  }

  async function acknowledge(entry) {
    const btn = entry.el.querySelector('.ack');
    btn.disabled = true;
    try {
      const res = await Auth.api('/api/v1/hits/' + entry.hit.hit_id + '/ack', { method: 'POST' });
      if (res.ok || res.status === 409) {
        const body = await res.json();
        entry.acked = true;
        entry.ackedBy = body.acknowledged_by || 'another operator';
        updateAck(entry);
        redraw();
      } else {
        const body = await res.json().catch(() => ({}));
        alert('The hit could not be acknowledged: ' + (body.detail || res.status));
      }
    } finally { btn.disabled = false; }
  }

  function onEvent(type, data) {
    let obj;
    try { obj = JSON.parse(data); } catch (e) { return; }
    if (type === 'hit') {
      if (hits.has(obj.hit_id)) return;
      const entry = { hit: obj, acked: false, ackedBy: '' };
      addOption('country', obj.camera_country);
      addOption('list', obj.list_id);
      addOption('category', obj.category);
      render(entry);
      hits.set(obj.hit_id, entry);
    } else {
      if (window.Followup) Followup.onEvent(type, obj);  // ack, disposition, outcome, escalation
      const entry = hits.get(obj.hit_id);
      if (!entry) return;
      if ((type === 'ack' || type === 'disposition') && !entry.acked) {  // a disposition acknowledges
        entry.acked = true;
        entry.ackedBy = obj.acknowledged_by || obj.by;
        updateAck(entry);
      }
    }
    scheduleRedraw();
  }

  let redrawPending = false;
  function scheduleRedraw() {
    if (redrawPending) return;
    redrawPending = true;
    requestAnimationFrame(() => { redrawPending = false; redraw(); });
  }

  function setConn(on, text) {
    const c = $('conn');
    c.classList.toggle('off', !on);
    c.textContent = text;
  }

  // The event stream, read with fetch so the token travels in a header; reconnects with the id
  // of the last event seen, so no hit still buffered by the processor is missed.
  let current = null;           // AbortController of the open stream
  async function stream() {
    for (;;) {
      try {
        const headers = Auth.headers(lastEventId ? { 'Last-Event-ID': lastEventId } : {});
        current = new AbortController();
        const res = await fetch('/api/v1/hits/stream', { headers, cache: 'no-store', signal: current.signal });
        if (res.status === 401) return Auth.logout('Your token is not valid (any more). Log in again.');
        if (res.status === 403) { setConn(false, 'this token may not see hits'); return; }
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        setConn(true, 'live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            let type = 'message', data = '', id = null;
            for (const line of block.split('\n')) {
              if (line.startsWith('id: ')) id = line.slice(4);
              else if (line.startsWith('event: ')) type = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (id !== null) lastEventId = id;
            if (data) onEvent(type, data);
          }
        }
      } catch (e) { /* dropped: reconnect below */ }
      setConn(false, 'reconnecting…');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  // Drops the stream (it reconnects by itself): for a manual "reconnect", and for the tests.
  window.anprControlRoom = { drop: () => { if (current) current.abort(); },
    event: (type, obj) => onEvent(type, JSON.stringify(obj)) };

  filters.addEventListener('input', redraw);
  setInterval(() => { for (const e of hits.values()) if (e.el.isConnected) updateTime(e.el); }, 1000);
  Auth.start((who) => {
    me = who;
    if (me.role !== 'controlroom') {
      setConn(false, 'not a control-room token');
      $('empty').textContent = 'This page shows hits to control-room tokens. Your token has role ' + me.role + '.';
      return;
    }
    stream();
  });
})();
