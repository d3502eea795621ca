// The yield figures end to end (run by tests/yield_it_test.cpp against a running processor).
// Sends camera reads that hit an ordinary and a covert list, reads the hits the processor
// published, records acknowledgements, dispositions and outcomes for them on the
// acknowledgements topic (as the control rooms' server writes them: one message per record,
// key = hit_id), computes the figures it expects from what it recorded, and compares them with
// `anpr lists yield --json`, /api/v1/cameras/yield and the lists page (Playwright driving
// Debian's chromium). Checks that an engineer, /metrics and the cameras' figures show nothing of
// the covert list. Prints one line per check; exits 0 when every check passed, 1 otherwise.
//
// Environment: ANPR_URL, ANPR_BIN, ANPR_BROKERS, TOPIC_READS, TOPIC_HITS, TOPIC_HIT_ACKS, GROUP,
// TOKEN_FILE_OP / TOKEN_OP (operator), TOKEN_FILE_ENG / TOKEN_ENG (engineer), TOKEN_CR
// (controlroom), OUT_DIR (screenshots), CHROMIUM (default /usr/bin/chromium).
'use strict';
const { chromium } = require('playwright-core');
const { Kafka, logLevel } = require('kafkajs');
const { spawnSync } = require('child_process');
const path = require('path');

const env = process.env;
const url = env.ANPR_URL;
const out = env.OUT_DIR || '.';
const kafka = new Kafka({ clientId: 'anpr-yield-check', brokers: env.ANPR_BROKERS.split(','), logLevel: logLevel.NOTHING });
const run = Date.now().toString(36);

function check(cond, what) {
  if (!cond) throw new Error('FAILED: ' + what);
  console.log('ok: ' + what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The reads: which plate passes which camera (nl-obs is the covert list).
const PASSES = [
  ['nl-cam-1', 'HF-17-DS', 'nl-wanted'], ['nl-cam-1', 'HF-17-DS', 'nl-wanted'], ['nl-cam-1', 'HF-17-DS', 'nl-wanted'],
  ['nl-cam-1', 'GB-123-X', 'nl-wanted'], ['nl-cam-1', 'GB-123-X', 'nl-wanted'],
  ['nl-cam-2', '12-BDF-3', 'nl-wanted'], ['nl-cam-2', '12-BDF-3', 'nl-wanted'],
  ['nl-cam-2', 'XR-441-T', 'nl-stolen'], ['nl-cam-2', 'XR-441-T', 'nl-stolen'], ['nl-cam-2', 'XR-441-T', 'nl-stolen'],
  ['nl-cam-3', 'KL-555-Z', 'nl-obs'], ['nl-cam-3', 'KL-555-Z', 'nl-obs'], ['nl-cam-3', 'KL-555-Z', 'nl-obs'],
  ['nl-cam-1', 'KL-555-Z', 'nl-obs'],
];

// What the control rooms do with the hits of each list, in the order of the hits (seconds after
// the hit's capture). A disposition is written after an acknowledgement, as the API does.
const PLAN = {
  'nl-wanted': [
    [['ack', 10], ['accepted', 20], ['outcome', 60, 'intercepted']],
    [['ack', 30], ['rejected', 30, 'misread']],
    [['ack', 45]],
    [['ack', 5], ['rejected', 8, 'wrong_vehicle']],
    // Recorded twice (a redelivery), then a different disposition that must not count.
    [['ack', 12], ['accepted', 12], ['accepted', 12], ['rejected', 14, 'misread'], ['outcome', 70, 'not_found']],
    [],
    [],
  ],
  'nl-stolen': [
    [['ack', 100], ['rejected', 101, 'misread']],
    [['ack', 7], ['rejected', 7, 'misread']],
    [],
  ],
  'nl-obs': [
    [['ack', 3], ['accepted', 3]],
    [['ack', 4], ['rejected', 4, 'misread']],
    [],
    [],
  ],
};

function median(v) {
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : s[m - 1] + Math.floor((s[m] - s[m - 1]) / 2);
}

// The figures that follow from the hits and the plan (docs/operators.md, "Yield of a list").
function expected(hitsByList) {
  const lists = {}, cameras = {};
  for (const [list, hits] of Object.entries(hitsByList)) {
    const y = { hits: 0, acknowledged: 0, not_followed_up: 0, accepted: 0, rejected: 0, misreads: 0, rejected_by_reason: {}, outcomes: {}, delays: [] };
    hits.forEach((h, i) => {
      const steps = PLAN[list][i] || [];
      let acked = null, disp = null, reason = null, outcome = null;
      for (const [what, after, code] of steps) {
        const at = h.tsMs + after * 1000;
        if (acked === null && what !== 'outcome') acked = at;
        if ((what === 'accepted' || what === 'rejected') && disp === null) { disp = what; reason = code || null; }
        if (what === 'outcome' && disp === 'accepted' && outcome === null) outcome = code;
      }
      y.hits++;
      if (acked !== null) { y.acknowledged++; y.delays.push(Math.max(0, acked - h.tsMs)); } else y.not_followed_up++;
      if (disp === 'accepted') { y.accepted++; if (outcome) y.outcomes[outcome] = (y.outcomes[outcome] || 0) + 1; }
      if (disp === 'rejected') { y.rejected++; y.rejected_by_reason[reason] = (y.rejected_by_reason[reason] || 0) + 1; if (reason === 'misread') y.misreads++; }
      if (list !== 'nl-obs') {
        const c = cameras[h.camera_id] || (cameras[h.camera_id] = { hits: 0, acknowledged: 0, dispositions: 0, misreads: 0 });
        c.hits++;
        if (acked !== null) c.acknowledged++;
        if (disp) c.dispositions++;
        if (disp === 'rejected' && reason === 'misread') c.misreads++;
      }
    });
    y.median_ack_ms = median(y.delays);
    delete y.delays;
    lists[list] = y;
  }
  return { lists, cameras };
}

function anpr(args, tokenFile) {
  const r = spawnSync(env.ANPR_BIN, ['lists', 'yield', '--url', url, '--token-file', tokenFile, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The figures of one list as the API gives them, in the shape of expected().
function pick(y) {
  const o = {};
  for (const k of ['hits', 'acknowledged', 'not_followed_up', 'accepted', 'rejected', 'misreads', 'rejected_by_reason', 'outcomes', 'median_ack_ms']) o[k] = y[k];
  return o;
}
function same(a, b) {
  const norm = (y) => JSON.stringify(Object.fromEntries(Object.entries(y).map(([k, v]) =>
    [k, v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort()) : v]).sort()));
  return norm(a) === norm(b);
}

// The page's text for a duration (web/lists.js).
function duration(ms) {
  if (ms === null) return '–';
  const s = Math.floor(ms / 1000);
  if (s < 60) return (Math.floor(ms / 100) / 10).toFixed(1) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + String(s % 60).padStart(2, '0') + ' s';
  return Math.floor(s / 3600) + ' h ' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + ' min';
}
const codes = (o) => Object.entries(o).map(([k, n]) => k.replace(/_/g, ' ') + ' ' + n).join(', ') || '–';
function pageRow(list, y) {
  return [list + (list === 'nl-obs' ? ' (covert)' : ''), String(y.hits), String(y.acknowledged),
    y.hits ? y.not_followed_up + ' (' + Math.round(100 * y.not_followed_up / y.hits) + ' %)' : String(y.not_followed_up),
    String(y.accepted), String(y.rejected), String(y.misreads), codes(Object.fromEntries(Object.entries(y.rejected_by_reason).sort())),
    codes(Object.fromEntries(Object.entries(y.outcomes).sort())), duration(y.median_ack_ms)];
}

async function main() {
  const producer = kafka.producer();
  await producer.connect();

  // 1. Reads, captured two minutes ago, one second apart.
  const t0 = Date.now() - 120000;
  const reads = PASSES.map(([camera, plate], i) => ({ event_id: 'yield-' + run + '-' + String(i).padStart(2, '0'), camera_id: camera,
    ts: new Date(t0 + i * 1000).toISOString(), plate, plate_country: 'NL', confidence: 0.9 }));
  await producer.send({ topic: env.TOPIC_READS, acks: -1, messages: reads.map((r) => ({ key: r.camera_id, value: JSON.stringify(r) })) });

  // 2. The hits the processor published for them.
  const consumer = kafka.consumer({ groupId: env.GROUP || 'yield-check-' + process.pid });
  await consumer.connect();
  await consumer.subscribe({ topic: env.TOPIC_HITS, fromBeginning: true });
  const byEvent = new Map();
  const raw = new Map();
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 60000);
    consumer.run({ eachMessage: async ({ message }) => {
      const h = JSON.parse(message.value.toString());
      if (!h.event_id || !h.event_id.startsWith('yield-' + run)) return;
      byEvent.set(h.event_id, h);
      raw.set(h.hit_id, message.value.toString());
      if (byEvent.size === reads.length) { clearTimeout(timer); resolve(); }
    } });
  });
  await consumer.disconnect();
  check(byEvent.size === reads.length, 'the processor published a hit for each of the ' + reads.length + ' reads (' + byEvent.size + ')');
  const hitsByList = { 'nl-wanted': [], 'nl-stolen': [], 'nl-obs': [] };
  for (const r of reads) {
    const h = byEvent.get(r.event_id);
    h.tsMs = Date.parse(h.ts);
    hitsByList[h.list_id].push(h);
  }
  check(hitsByList['nl-obs'].every((h) => h.covert === true), 'the hits of nl-obs are marked covert');

  // 3. The follow-up records, as the control rooms' server writes them (key = hit_id).
  const messages = [];
  const record = (h, kind, at, extra) => {
    const r = Object.assign({ kind, hit_id: h.hit_id, control_room: 'ROOM-NL', by: 'carl', ts: new Date(at).toISOString(),
      list_id: h.list_id, camera_id: h.camera_id, hit_ts: h.ts, covert: h.covert === true, priority: h.priority }, extra);
    if (h.covert) r.covert_rooms = h.covert_rooms;
    if (kind === 'ack') r.acknowledged_by = 'carl';
    messages.push({ key: h.hit_id, value: JSON.stringify(r) });
  };
  for (const [list, hits] of Object.entries(hitsByList)) {
    hits.forEach((h, i) => {
      for (const [what, after, code] of PLAN[list][i] || []) {
        const at = h.tsMs + after * 1000;
        if (what === 'ack') record(h, 'ack', at, {});
        else if (what === 'outcome') record(h, 'outcome', at, { outcome: code });
        else record(h, 'disposition', at, what === 'accepted' ? { disposition: 'accepted' } : { disposition: 'rejected', reason: code });
      }
    });
  }
  // Also: a record that is not JSON, and a hit delivered a second time.
  messages.push({ key: 'x', value: 'not json {' });
  await producer.send({ topic: env.TOPIC_HIT_ACKS, acks: -1, messages });
  const again = hitsByList['nl-wanted'][5];
  await producer.send({ topic: env.TOPIC_HITS, acks: -1, messages: [{ key: again.camera_id, value: raw.get(again.hit_id) }] });
  await producer.disconnect();
  const want = expected(hitsByList);
  console.log('expected: ' + JSON.stringify(want));

  // 4. `anpr lists yield --json` (operator) gives those figures.
  let got = null, ok = false;
  for (let i = 0; i < 60 && !ok; ++i) {
    const r = anpr(['--json'], env.TOKEN_FILE_OP);
    if (r.code === 0) {
      got = JSON.parse(r.stdout);
      const by = Object.fromEntries(got.lists.map((y) => [y.list_id, pick(y)]));
      ok = Object.keys(want.lists).every((l) => by[l] && same(by[l], want.lists[l]));
    }
    if (!ok) await sleep(500);
  }
  check(ok, '`anpr lists yield --json` gives the figures computed from the dispositions made (' + JSON.stringify(got && got.lists) + ')');
  check(got.lists.find((y) => y.list_id === 'nl-obs').covert === true, 'the operator sees the covert list, marked covert');
  check(Math.abs(got.lists.find((y) => y.list_id === 'nl-wanted').not_followed_up_share - 2 / 7) < 1e-9, 'the share not followed up is not_followed_up / hits');
  {
    const one = anpr(['nl-stolen', '--json'], env.TOKEN_FILE_OP);
    const l = JSON.parse(one.stdout).lists;
    check(one.code === 0 && l.length === 1 && same(pick(l[0]), want.lists['nl-stolen']), '`anpr lists yield nl-stolen` gives that list only');
    const table = anpr([], env.TOKEN_FILE_OP);
    check(table.code === 0 && table.stdout.includes('nl-wanted') && table.stdout.includes('misread 1, wrong_vehicle 1'), 'the table names the lists and the reasons (' + table.stdout + ')');
    const bad = anpr(['Not A List'], env.TOKEN_FILE_OP);
    check(bad.code === 2, 'a list id that cannot be one is a usage error: exit 2 (' + bad.code + ' ' + bad.stderr.trim() + ')');
  }

  // 5. The engineer: no covert list, not even when asked for by name; the cameras' figures
  // without covert hits; /metrics without them; a control-room token may not ask.
  {
    const r = anpr(['--json'], env.TOKEN_FILE_ENG);
    check(r.code === 0 && !r.stdout.includes('nl-obs') && JSON.parse(r.stdout).lists.length === 2, 'an engineer sees the figures without the covert list (' + r.stdout.trim() + ')');
    const named = JSON.parse(anpr(['nl-obs', '--json'], env.TOKEN_FILE_ENG).stdout);
    const none = JSON.parse(anpr(['nl-none', '--json'], env.TOKEN_FILE_ENG).stdout);
    check(named.lists.length === 0 && none.lists.length === 0 && Object.keys(named).join() === Object.keys(none).join(), 'asking for the covert list by name answers as for a list without hits');
    const res = await fetch(url + '/api/v1/cameras/yield', { headers: { Authorization: 'Bearer ' + env.TOKEN_ENG } });
    const cams = await res.json();
    const by = Object.fromEntries(cams.cameras.map((c) => [c.camera_id, { hits: c.hits, acknowledged: c.acknowledged, dispositions: c.dispositions, misreads: c.misreads }]));
    check(res.status === 200 && Object.keys(by).sort().join() === Object.keys(want.cameras).sort().join() &&
      Object.keys(want.cameras).every((c) => same(by[c], want.cameras[c])), 'the cameras\' figures are those of the ordinary hits only (' + JSON.stringify(cams.cameras) + ')');
    const c2 = cams.cameras.find((c) => c.camera_id === 'nl-cam-2');
    check(Math.abs(c2.misread_rate - want.cameras['nl-cam-2'].misreads / want.cameras['nl-cam-2'].dispositions) < 1e-9, 'the misread rate is misreads / dispositions');
    check(!JSON.stringify(cams).includes('nl-cam-3'), 'a camera that saw only covert hits is not named');
    const metrics = await (await fetch(url + '/metrics')).text();
    check(!metrics.includes('nl-obs') && !metrics.includes('nl-cam-3'), '/metrics names neither the covert list nor the camera of its hits');
    check(metrics.includes('anpr_list_yield_hits{list="nl-wanted"} 7') && metrics.includes('anpr_camera_misreads{camera="nl-cam-2"} ' + want.cameras['nl-cam-2'].misreads), '/metrics has the yield of the ordinary lists and cameras');
    const cr = await fetch(url + '/api/v1/lists/yield', { headers: { Authorization: 'Bearer ' + env.TOKEN_CR } });
    check(cr.status === 403, 'a control-room token may not read the yield: 403 (' + cr.status + ')');
    const crc = await fetch(url + '/api/v1/cameras/yield', { headers: { Authorization: 'Bearer ' + env.TOKEN_OP } });
    check(crc.status === 403, 'the cameras\' figures are for engineers: an operator gets 403 (' + crc.status + ')');
    const anon = await fetch(url + '/api/v1/lists/yield');
    check(anon.status === 401, 'without a token: 401');
  }

  // 6. The lists page shows the same figures (operator), at 1280 and at 800 px wide.
  const browser = await chromium.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  for (const [width, shot] of [[1280, 'lists-yield.png'], [800, 'lists-yield-800.png']]) {
    const page = await (await browser.newContext({ viewport: { width, height: 720 } })).newPage();
    await page.goto(url + '/lists');
    await page.waitForSelector('#login:not([hidden])', { timeout: 10000 });
    await page.fill('#token', env.TOKEN_OP);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#yield tr[data-list-id="nl-obs"]', { timeout: 15000 });
    const rows = await page.$$eval('#yield tbody tr', (trs) => Object.fromEntries(trs.map((tr) => [tr.dataset.listId, [...tr.children].map((td) => td.textContent)])));
    for (const l of Object.keys(want.lists)) {
      const w = pageRow(l, want.lists[l]);
      check(JSON.stringify(rows[l]) === JSON.stringify(w), `the lists page at ${width} px shows the figures of ${l}: ${JSON.stringify(rows[l])} (expected ${JSON.stringify(w)})`);
    }
    await page.$eval('#yield-section', (s) => s.scrollIntoView());
    await page.screenshot({ path: path.join(out, shot) });
    if (width === 800) {
      const fits = await page.$eval('#yield-section', (s) => s.getBoundingClientRect().right <= window.innerWidth + 1);
      check(fits, 'at 800 px the yield section stays within the page (the table scrolls inside it)');
    }
  }
  // The engineer's page: no trace of the covert list.
  {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
    await page.goto(url + '/lists');
    await page.waitForSelector('#login:not([hidden])', { timeout: 10000 });
    await page.fill('#token', env.TOKEN_ENG);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#yield tr[data-list-id="nl-wanted"]', { timeout: 15000 });
    const text = await page.textContent('body');
    check(!text.includes('nl-obs') && (await page.$$('#yield tbody tr')).length === 2, 'the lists page shows an engineer the yield without the covert list');
  }
  await browser.close();
}

main().then(() => { console.log('OK'); process.exit(0); }, (e) => { console.error(e.message || e); process.exit(1); });
