// The engineers' view: the same numbers as /metrics (parsed from it), with rates computed here.
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

  Auth.start(() => { refresh(); setInterval(refresh, 2000); });
})();
