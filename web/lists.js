// The operators' page: active lists, their versions, uploads with the validation report row by
// row (before with "Check first", after with "Load"), and rollback.
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
  Auth.start(() => refresh());
})();
