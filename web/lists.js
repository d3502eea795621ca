// The operators' page: active lists, their versions, uploads with the validation report row by
// row (before with "Check first", after with "Load"), rollback, and the yield of each list (what
// came of its hits: GET /api/v1/lists/yield, docs/operators.md "Yield of a list"; engineers see
// the yield table too, without covert lists).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $('upload');

  function cells(tr, values) {
    for (const v of values) {
      const td = document.createElement('td');
      if (v instanceof Node) td.appendChild(v); else td.textContent = v === null || v === undefined ? '' : String(v);
      tr.appendChild(td);
    }
    return tr;
  }
  const when = (t) => t ? new Date(t).toLocaleString() : '';
  const day = (t) => t ? t.slice(0, 10) : '';

  async function refresh() {
    refreshYield().catch(() => {});
    const res = await Auth.api('/api/v1/lists');
    if (res.status === 403) {
      $('forbidden').hidden = false;
      $('forbidden').textContent = 'Your token may not manage lists (it needs the operator role).';
      $('conn').classList.add('off');
      $('conn').textContent = 'read-only';
      return;
    }
    const body = await res.json();
    $('conn').classList.remove('off');
    $('conn').textContent = 'connected';
    const tbody = $('lists').querySelector('tbody');
    const ids = $('known-ids');
    ids.replaceChildren();
    tbody.replaceChildren(...body.lists.map((l) => {
      const o = document.createElement('option');
      o.value = l.id;
      ids.appendChild(o);
      const tr = document.createElement('tr');
      tr.dataset.listId = l.id;
      if (!l.active) tr.classList.add('inactive');
      const show = document.createElement('button');
      show.type = 'button';
      show.textContent = 'Versions';
      show.addEventListener('click', () => versions(l.id));
      const back = document.createElement('button');
      back.type = 'button';
      back.textContent = 'Roll back';
      back.className = 'rollback';
      back.addEventListener('click', () => rollback(l.id));
      const actions = document.createElement('span');
      actions.append(show, ' ', back);
      const c = l.current || {};
      return cells(tr, [l.id + (l.active ? '' : ' (deleted)'), l.owner_country, l.match_mode,
        c.seq + (l.version ? ' (' + l.version + ')' : ''), l.entries, l.expiring_24h,
        (day(l.valid_from) || '…') + ' – ' + (day(l.valid_until) || '…'),
        (c.who || '') + ' ' + when(c.at), actions]);
    }));
  }

  // 12.3 s, 4 min 05 s, 2 h 10 min.
  function duration(ms) {
    if (ms === null || ms === undefined) return '–';
    const s = Math.floor(ms / 1000);
    if (s < 60) return (Math.floor(ms / 100) / 10).toFixed(1) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + String(s % 60).padStart(2, '0') + ' s';
    return Math.floor(s / 3600) + ' h ' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + ' min';
  }
  const codes = (o) => Object.entries(o || {}).map(([k, n]) => k.replace(/_/g, ' ') + ' ' + n).join(', ') || '–';
  const share = (n, of) => of ? n + ' (' + Math.round(100 * n / of) + ' %)' : String(n);

  async function refreshYield() {
    const res = await Auth.api('/api/v1/lists/yield');
    if (!res.ok) { $('yield-section').hidden = true; return; }
    const body = await res.json();
    $('yield-section').hidden = false;
    $('yield-summary').textContent = 'Hits captured in the last ' + body.window_days + ' days' +
      (body.since ? ' (oldest: ' + when(body.since) + ')' : '') + '; updated ' + when(body.generated_at) +
      '. Not followed up: no acknowledgement and no disposition. Misreads are counted among the rejected hits and shown apart.';
    const tbody = $('yield').querySelector('tbody');
    tbody.replaceChildren(...body.lists.map((y) => {
      const tr = document.createElement('tr');
      tr.dataset.listId = y.list_id;
      const values = [
        ['list', y.list_id + (y.covert ? ' (covert)' : '')], ['hits', y.hits],
        ['acknowledged', y.acknowledged], ['not_followed_up', share(y.not_followed_up, y.hits)],
        ['accepted', y.accepted], ['rejected', y.rejected], ['misreads', y.misreads],
        ['rejected_by_reason', codes(y.rejected_by_reason)], ['outcomes', codes(y.outcomes)],
        ['median_ack', duration(y.median_ack_ms)]];
      for (const [k, v] of values) {
        const td = document.createElement('td');
        td.dataset.k = k;
        td.textContent = String(v);
        if (typeof v === 'number' || k === 'not_followed_up' || k === 'median_ack') td.className = 'n';
        tr.appendChild(td);
      }
      return tr;
    }));
    $('yield').hidden = body.lists.length === 0;
    $('yield-empty').hidden = body.lists.length !== 0;
  }

  async function versions(id) {
    const res = await Auth.api('/api/v1/lists/' + encodeURIComponent(id));
    const l = await res.json();
    $('versions').hidden = false;
    $('versions-of').textContent = id;
    $('versions').querySelector('tbody').replaceChildren(...(l.versions || []).map((v) =>
      cells(document.createElement('tr'), [v.seq + (v.seq === l.current.seq ? ' (active)' : ''), v.kind, v.entries, v.added, v.removed, v.rejected, (v.checksum || '').slice(0, 12), v.who, when(v.at)])));
  }

  async function rollback(id) {
    if (!confirm('Roll ' + id + ' back to its previous version?')) return;
    const res = await Auth.api('/api/v1/lists/' + encodeURIComponent(id) + '/rollback', { method: 'POST' });
    const body = await res.json();
    showResult(res.ok ? 'Rolled back ' + id : 'Not rolled back', body, res.ok);
    await refresh();
    if (res.ok) await versions(id);
  }

  function showResult(title, body, ok) {
    $('result').hidden = false;
    $('result-title').textContent = title;
    $('result-title').className = ok ? 'good' : 'error';
    const r = body.report || {};
    let summary = body.detail ? body.detail.replace(/\.?$/, '. ') : '';
    if (r.rows !== undefined)
      summary += r.rows + ' rows read, ' + r.accepted + ' accepted, ' + r.rejected + ' rejected (' +
        Number(r.rejected_percent || 0).toFixed(2) + ' %; a load is refused above ' + r.threshold_percent + ' %).';
    if (r.expiring_24h) summary += ' ' + r.expiring_24h + ' entries expire within 24 h.';
    if (body.version) summary += ' Now version ' + body.version.seq + ' with ' + body.version.entries + ' entries.';
    $('result-summary').textContent = summary;
    const rows = (r.rejected_rows || []).map((e) => cells(document.createElement('tr'), [e.file, e.line, e.column, e.reason, e.detail]));
    if (r.fatal) rows.unshift(cells(document.createElement('tr'), [r.fatal.file, r.fatal.line, r.fatal.column, 'unusable file', r.fatal.message]));
    $('report').querySelector('tbody').replaceChildren(...rows);
    $('report').hidden = rows.length === 0;
  }

  function parts(forCheck) {
    const kind = form.elements.kind.value;
    const rows = form.elements.rows.files[0];
    const sidecar = form.elements.sidecar.files[0];
    if (!rows) throw new Error('Choose the file with the rows.');
    const data = new FormData();
    if (kind === 'full' || forCheck) {
      if (!sidecar) throw new Error('A full load (and a check) needs the list\'s TOML sidecar.');
      data.append('sidecar', sidecar, sidecar.name);
      data.append('rows', rows, rows.name);
    } else {
      data.append(kind, rows, rows.name);
    }
    return { kind, data };
  }

  async function send(check) {
    const id = form.elements.id.value.trim();
    if (!form.reportValidity()) return;
    let p;
    try { p = parts(check); } catch (e) { return showResult('Nothing sent', { detail: e.message }, false); }
    const base = '/api/v1/lists/' + encodeURIComponent(id);
    const [url, method] = check ? [base + '/validate', 'POST'] : p.kind === 'full' ? [base, 'PUT'] : [base + '/delta', 'POST'];
    $('load').disabled = $('check').disabled = true;
    try {
      const res = await Auth.api(url, { method, body: p.data });
      const body = await res.json().catch(() => ({ detail: 'HTTP ' + res.status }));
      const title = check ? (res.ok && body.report && !body.report.over_threshold ? 'Check: the file can be loaded' : 'Check: the file would be refused')
        : res.ok ? 'Loaded ' + id : 'Not loaded (' + (body.error || res.status) + ')';
      showResult(title, body, res.ok && !(body.report && body.report.over_threshold));
      if (!check) await refresh();
    } finally { $('load').disabled = $('check').disabled = false; }
  }

  form.addEventListener('change', () => {
    const full = form.elements.kind.value === 'full';
    $('sidecar-label').hidden = !full;
    $('check').hidden = !full;  // a check validates a whole list: sidecar and rows
  });
  $('check').addEventListener('click', () => send(true));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); send(false); });
  Auth.start(() => {
    refresh();
    // The figures move as control rooms follow hits up.
    setInterval(() => refreshYield().catch(() => {}), 5000);
  });
})();
