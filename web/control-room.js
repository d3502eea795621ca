// The control-room page: live hits over an event stream, filters, acknowledgement.
'use strict';
(() => {
  const hits = new Map();      // hit_id -> {hit, acked, ackedBy, el}
  let lastEventId = '';
  let me = null;
  const $ = (id) => document.getElementById(id);
  const filters = $('filters');
  const seen = { country: new Set(), list: new Set(), category: new Set() };
  const URGENT = 10;           // priority 0..10: a priority hit (0 is the highest, 100 the lowest)

  // web/followup.js (dispositions, outcomes, escalation) defines window.Followup: decorate(card,
  // hit) puts its controls in each new card's .followup, onEvent(type, obj) takes every stream
  // event other than a hit, pending(hit_id) says an accepted hit still waits for its outcome.

  // Times as a person on shift reads them without doubt: date, 24-hour clock and time zone
  // (the browser's), e.g. "2026-12-06 19:01:02 CET".
  const TIME = new Intl.DateTimeFormat('en-GB', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    second: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
  });
  function clock(ts) {
    const d = new Date(ts);
    if (isNaN(d)) return ts || '';
    const p = Object.fromEntries(TIME.formatToParts(d).map((x) => [x.type, x.value]));
    return p.year + '-' + p.month + '-' + p.day + ' ' + p.hour + ':' + p.minute + ':' + p.second + ' ' + p.timeZoneName;
  }

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

  // Writes `text` (the display form) into `el`, marking the characters `marks` flags; `marks` is
  // indexed by the normalised plate, which is the display form without its separators.
  function plateInto(el, text, marks) {
    el.textContent = '';
    let k = 0;
    for (const ch of text) {
      const separator = ch === '-' || ch === ' ';
      const s = document.createElement(!separator && marks[k] ? 'mark' : 'span');
      s.textContent = ch;
      el.appendChild(s);
      if (!separator) k++;
    }
  }

  function age(ts) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min ago';
  }

  function addOption(kind, value, label) {
    if (!value || seen[kind].has(value)) return;
    seen[kind].add(value);
    const o = document.createElement('option');
    o.value = value;
    o.textContent = label || value;
    filters.elements[kind].appendChild(o);
  }

  // The filters' choices before any hit: the lists this room may see, the cameras' countries,
  // every category (GET /api/v1/hits/filters). Hits of other values still add theirs.
  async function loadFilterChoices() {
    try {
      const res = await Auth.api('/api/v1/hits/filters');
      if (!res.ok) return;
      const f = await res.json();
      for (const c of f.countries || []) addOption('country', c);
      for (const l of f.lists || []) addOption('list', l.list_id, l.list_id + ' (' + l.owner + ')');
      for (const c of f.categories || []) addOption('category', c, c.replace(/_/g, ' '));
      redraw();
    } catch (e) { /* the hits still bring their own values */ }
  }

  function priorityText(p) {
    if (p <= URGENT) return 'PRIORITY ' + p + (p === 0 ? ' (highest)' : '');
    return 'priority ' + p;
  }

  function render(entry) {
    const h = entry.hit;
    const li = $('hit-template').content.firstElementChild.cloneNode(true);
    li.dataset.hitId = h.hit_id;
    li.dataset.eventId = h.event_id || '';
    // Both plates in their country's display form (X-999-DB, 1-ABC-234), as the terminal view
    // prints them; the normalised text when the hit carries no display form.
    const readNorm = h.read_plate || h.plate_normalized || h.plate;
    const read = h.read_plate_display || readNorm;
    const listed = h.matched_plate_display || h.matched_plate;
    const [ra, rb] = h.match_kind === 'exact' ? [[], []] : align(readNorm, h.matched_plate);
    plateInto(li.querySelector('.plate.read'), read, ra);
    plateInto(li.querySelector('.plate.listed'), listed, rb);
    li.querySelector('.plate.read').title = 'as the camera sent it: ' + h.plate;
    li.querySelector('.plate.listed').title = 'as listed: ' + h.matched_plate;
    const src = li.querySelector('.read-source');
    if (h.read_plate_source === 'candidate') {
      src.textContent = 'matched an OCR candidate, not the camera\'s own reading "' + h.plate + '"';
      src.classList.add('fuzzy');
    }
    li.querySelector('.listed-country').textContent = h.matched_country ?
      '(' + h.matched_country + (h.country_assumed ? ', country assumed: the camera gave none' : '') + ')' : '';
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
    const prio = li.querySelector('.prio');
    prio.textContent = priorityText(h.priority);
    prio.title = 'priority ' + h.priority + ' (0 is the highest, 100 the lowest)';
    li.querySelector('.category').textContent = h.category.replace(/_/g, ' ');
    li.querySelector('.action').textContent = h.action === 'observe' ? 'observe (discreet: do not alert the driver)' : h.action;
    li.querySelector('.kind').textContent = h.match_kind === 'exact' ? 'exact match' :
      (h.match_kind === 'ocr' ? 'OCR-tolerant match' : 'match with a missing or extra character') +
      ', ' + h.differences + ' difference' + (h.differences === 1 ? '' : 's') + ': check the plate by eye';
    li.querySelector('.kind').classList.toggle('fuzzy', h.match_kind !== 'exact');
    li.querySelector('.list').textContent = 'list ' + h.list_id + ' (' + h.list_owner + ', version ' + h.list_version + ') · ref ' + h.reference;
    const routes = Array.isArray(h.routes) ? h.routes.filter((r) => typeof r === 'string' && r) : [];
    li.querySelector('.routes').textContent = routes.length ? 'also reported to ' + routes.join(', ') : '';
    li.querySelector('.note').textContent = h.note || '';
    li.querySelector('.site').textContent = (h.site || h.camera_id) + (h.camera_country ? ' (' + h.camera_country + ')' : '');
    li.querySelector('.camera').textContent = 'camera ' + h.camera_id;
    li.querySelector('.loc').textContent = h.lat !== undefined ? h.lat.toFixed(4) + ', ' + h.lon.toFixed(4) +
      (h.direction ? ' · ' + h.direction : '') + (h.lane !== undefined ? ' · lane ' + h.lane : '') : '';
    li.querySelector('.confidence').textContent = typeof h.confidence === 'number' ?
      'read confidence ' + Math.round(h.confidence * 100) + ' %' : 'read confidence not given';
    li.querySelector('.time').dataset.ts = h.ts;
    li.querySelector('.time').title = h.ts;
    li.querySelector('.ack').addEventListener('click', () => acknowledge(entry));
    entry.el = li;
    updateAck(entry);
    updateTime(li);
    // accept / reject / outcome (followup.js); the card stays usable without them
    if (window.Followup) {
      try { Followup.decorate(li, h); } catch (e) { /* no follow-up controls on this card */ }
    }
  }

  function updateTime(li) {
    const t = li.querySelector('.time');
    t.textContent = clock(t.dataset.ts) + ' · ' + age(t.dataset.ts);
  }

  function updateAck(entry) {
    entry.el.classList.toggle('is-acked', entry.acked);
    entry.el.querySelector('.ack').hidden = entry.acked;
    entry.el.querySelector('.acked').textContent = entry.acked ? 'acknowledged by ' + entry.ackedBy : '';
  }

  // Whether a hit passes the filters, acknowledged or not.
  function matches(entry) {
    const f = filters.elements, h = entry.hit;
    if (f.country.value && h.camera_country !== f.country.value) return false;
    if (f.list.value && h.list_id !== f.list.value) return false;
    if (f.category.value && h.category !== f.category.value) return false;
    if (f.action.value && h.action !== f.action.value) return false;
    if (h.priority > Number(f.priority.value || 100)) return false;
    return true;
  }

  function visible(entry) {
    // An accepted hit without its outcome stays in view: the outcome is still to be recorded.
    return matches(entry) && (!entry.acked || filters.elements.acked.checked ||
                              (window.Followup && Followup.pending(entry.hit.hit_id)));
  }

  function redraw() {
    const ol = $('hits');
    const list = [...hits.values()].filter(visible).sort((a, b) => {
      const ua = a.hit.priority <= URGENT, ub = b.hit.priority <= URGENT;
      if (ua !== ub) return ua ? -1 : 1;
      return Date.parse(b.hit.ts) - Date.parse(a.hit.ts);
    });
    ol.replaceChildren(...list.map((e) => e.el));
    // The counts follow the filters: the hits that pass them, open and acknowledged.
    const passing = [...hits.values()].filter(matches);
    const open = passing.filter((e) => !e.acked).length;
    const filtered = passing.length !== hits.size;
    $('counts').textContent = open + ' open, ' + (passing.length - open) + ' acknowledged' +
      (filtered ? ' (filtered; ' + hits.size + ' in all)' : '');
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
  window.anprControlRoom = { drop: () => { if (current) current.abort(); }, redraw: scheduleRedraw,
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
    loadFilterChoices();
    stream();
  });
})();
