// Browser test of the control-room page (Playwright driving Debian's chromium, headless) against
// a running processor. Hits are produced into Kafka with KafkaJS, a client we did not write.
// Prints one line per check; exits 0 when every check passed, 1 on the first failure.
//
// Environment: ANPR_URL (http://127.0.0.1:PORT), ANPR_BROKERS, TOKEN_CR (controlroom, all rooms),
// TOKEN_OP (operator), OUT_DIR (screenshots), CHROMIUM (default /usr/bin/chromium), TOPIC_HITS and
// TOPIC_HIT_ACKS (the processor's topics.hits and topics.hit_acks, default anpr.hits and
// anpr.hit-acks), TOPIC_READS (its topics.reads, default anpr.reads), GROUP (the consumer group reading the acknowledgements, default one per run).
'use strict';
const { chromium } = require('playwright-core');
const { Kafka, logLevel } = require('kafkajs');
const crypto = require('crypto');
const path = require('path');

const url = process.env.ANPR_URL;
const out = process.env.OUT_DIR || '.';
const topicHits = process.env.TOPIC_HITS || 'anpr.hits';
const topicAcks = process.env.TOPIC_HIT_ACKS || 'anpr.hit-acks';
const topicReads = process.env.TOPIC_READS || 'anpr.reads';
const kafka = new Kafka({ clientId: 'anpr-pages-check', brokers: process.env.ANPR_BROKERS.split(','), logLevel: logLevel.NOTHING });

function check(cond, what) {
  if (!cond) throw new Error('FAILED: ' + what);
  console.log('ok: ' + what);
}

// A small JPEG (16x8 grey), as a thumbnail would be.
const THUMB = '/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAAIABABAREA/8QAFQABAQAAAAAAAAAAAAAAAAAAAAb/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/9oACAEBAAA/AKgD/9k=';

function makeHit(opts) {
  const id = crypto.randomBytes(16).toString('hex');
  return Object.assign({
    hit_id: id, event_id: 'ev-' + id.slice(0, 8), camera_id: 'nl-cam-1', site: 'A2 Maarssen',
    camera_country: 'NL', control_room: 'ROOM-NL', ts: new Date().toISOString(), plate: 'HF-17-D5',
    plate_country: 'NL', confidence: 0.81, lane: 2, direction: 'north', lat: 52.1352, lon: 5.0301,
    plate_normalized: 'HF17D5', read_plate: 'HF17D5', read_plate_source: 'plate',
    matched_plate: 'HF17DS', matched_plate_display: 'HF-17-DS', matched_country: 'NL',
    country_assumed: false, match_kind: 'ocr', differences: 1, list_id: 'nl-wanted',
    list_version: 'v1', list_owner: 'NL', category: 'wanted_person', action: 'observe',
    priority: 5, reference: 'NL-WP-77813', valid_until: null, routes: [],
  }, opts || {});
}

async function main() {
  const producer = kafka.producer();
  await producer.connect();
  const send = (hit) => producer.send({ topic: topicHits, acks: -1, messages: [{ key: hit.camera_id, value: JSON.stringify(hit) }] });

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // A fixed time zone, so the check of the cards' times knows what to expect.
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, timezoneId: 'Europe/Brussels', locale: 'en-US' });
  const page = await context.newPage();
  const streamRequests = [];
  page.on('request', (r) => { if (r.url().includes('/api/v1/hits/stream')) streamRequests.push(r.headers()); });

  // Without a token: the login prompt, and the API answers 401.
  await page.goto(url + '/');
  await page.waitForSelector('#login:not([hidden])', { timeout: 10000 });
  check(await page.isVisible('#token'), 'without a token the page shows the login prompt');
  await page.screenshot({ path: path.join(out, 'login.png') });
  let res = await fetch(url + '/api/v1/hits/stream');
  check(res.status === 401, 'without a token the API answers 401 (got ' + res.status + ')');
  res = await fetch(url + '/api/v1/hits/abc123/ack', { method: 'POST', headers: { Authorization: 'Bearer ' + process.env.TOKEN_OP } });
  check(res.status === 403, 'an operator token cannot acknowledge hits: 403 (got ' + res.status + ')');
  {
    const form = new FormData();
    form.append('sidecar', new Blob(['id = "nl-wanted"\nowner_country = "NL"\nmatch_mode = "ocr"\ncategory = "wanted_person"\n']), 'nl-wanted.toml');
    form.append('rows', new Blob(['plate,plate_country,reference\nHF-17-DS,NL,NL-WP-1\n']), 'nl-wanted.csv');
    res = await fetch(url + '/api/v1/lists/nl-wanted', { method: 'PUT', headers: { Authorization: 'Bearer ' + process.env.TOKEN_CR }, body: form });
    check(res.status === 403, 'a controlroom token cannot load lists: 403 (got ' + res.status + ')');
    res = await fetch(url + '/api/v1/lists/nl-wanted', { method: 'PUT', body: form });
    check(res.status === 401, 'loading a list without a token: 401 (got ' + res.status + ')');
  }

  // A wrong token is refused; the right one opens the live view.
  await page.fill('#token', 'not-a-token');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0, null, { timeout: 10000 });
  check(true, 'a wrong token is refused with a message');
  await page.fill('#token', process.env.TOKEN_CR);
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('conn').textContent === 'live', null, { timeout: 10000 });
  check(true, 'a controlroom token opens the live view');

  // Before any hit: the filters offer the configured lists (never a covert list this room is not
  // named by) and the cameras' countries.
  await page.waitForFunction(() => [...document.querySelectorAll('select[name=list] option')].some((o) => o.value === 'be-wanted'), null, { timeout: 10000 });
  const listChoices = await page.$$eval('select[name=list] option', (os) => os.map((o) => o.value));
  check(listChoices.includes('nl-wanted') && listChoices.includes('be-wanted') && !listChoices.some((v) => v.includes('secret')),
    'before any hit the list filter offers the configured lists, and not the covert one (' + listChoices.join(',') + ')');
  const countryChoices = await page.$$eval('select[name=country] option', (os) => os.map((o) => o.value).filter(Boolean));
  check(['BE', 'LU', 'NL'].every((c) => countryChoices.includes(c)), 'the country filter offers the cameras\' countries (' + countryChoices.join(',') + ')');

  // A hit produced into Kafka appears within 2 s, with the differing character highlighted.
  const h1 = makeHit();
  await send(h1);
  const t0 = Date.now();
  await page.waitForSelector(`li[data-hit-id="${h1.hit_id}"]`, { timeout: 2000 });
  const ms = Date.now() - t0;
  check(ms <= 2000, `a hit produced into Kafka appears on the page within 2 s (${ms} ms)`);
  const marks = await page.$$eval(`li[data-hit-id="${h1.hit_id}"] .plate.read mark`, (m) => m.map((x) => x.textContent));
  check(marks.length === 1 && marks[0] === '5', 'the differing character of an OCR match is highlighted (' + marks.join('') + ')');
  check(await page.$eval(`li[data-hit-id="${h1.hit_id}"]`, (li) => li.classList.contains('urgent')), 'a priority hit carries the priority cue');
  const routine = makeHit({ priority: 40, match_kind: 'exact', differences: 0, read_plate: 'HF17DS', plate: 'HF-17-DS', category: 'stolen_vehicle', action: 'intercept', list_id: 'nl-stolen' });
  await send(routine);
  await page.waitForSelector(`li[data-hit-id="${routine.hit_id}"]`, { timeout: 5000 });
  const withImage = makeHit({ priority: 60, thumbnail_jpeg: THUMB });
  const badImage = makeHit({ priority: 70, image_error: 'truncated' });
  await send(withImage);
  await send(badImage);
  await page.waitForSelector(`li[data-hit-id="${withImage.hit_id}"] img.thumb:not([hidden])`, { timeout: 5000 });
  check((await page.getAttribute(`li[data-hit-id="${withImage.hit_id}"] img.thumb`, 'src')).startsWith('data:image/jpeg;base64,'), 'a hit with a thumbnail shows it');
  await page.waitForSelector(`li[data-hit-id="${badImage.hit_id}"]`, { timeout: 5000 });
  check((await page.textContent(`li[data-hit-id="${badImage.hit_id}"] .img-error`)).includes('truncated'), 'a hit whose image was unusable says why');

  // What the terminal view shows, on the card: an OCR candidate that matched, the partner country
  // the hit was also reported to, an assumed country, the listed plate's country, camera id and
  // read confidence; plates in their country's display form; an unambiguous time; priority 0.
  const ts = '2026-07-14T12:34:56.000Z';  // 14:34:56 in Brussels (summer time)
  const be = makeHit({
    camera_id: 'be-cam-1', site: 'E19 Antwerpen-Noord', camera_country: 'BE', control_room: 'ROOM-BE',
    lat: 51.2602, lon: 4.4525, ts, plate: '1ABC2B4', plate_country: '', confidence: 0.64,
    plate_normalized: '1ABC2B4', read_plate: '1ABC284', read_plate_display: '1-ABC-284', read_plate_source: 'candidate',
    matched_plate: '1ABC234', matched_plate_display: '1-ABC-234', matched_country: 'BE', country_assumed: true,
    list_id: 'be-wanted', list_owner: 'BE', category: 'stolen_vehicle', action: 'intercept', priority: 0,
    reference: 'BE-SV-1', routes: ['BE'],
  });
  await send(be);
  const card = `li[data-hit-id="${be.hit_id}"]`;
  await page.waitForSelector(card, { timeout: 5000 });
  const text = (sel) => page.textContent(card + ' ' + sel);
  check(await text('.plate.read') === '1-ABC-284' && await text('.plate.listed') === '1-ABC-234',
    'both plates are shown in their country\'s display form (' + await text('.plate.read') + ' / ' + await text('.plate.listed') + ')');
  const beMarks = await page.$$eval(card + ' .plate.read mark', (m) => m.map((x) => x.textContent));
  check(beMarks.join('') === '8', 'the differing character is marked in the display form (' + beMarks.join('') + ')');
  check((await text('.read-source')).includes('OCR candidate') && (await text('.read-source')).includes('1ABC2B4'),
    'the card says an OCR candidate matched, not the camera\'s own reading: ' + await text('.read-source'));
  check((await text('.routes')) === 'also reported to BE', 'the card names the partner country the hit was also reported to: ' + await text('.routes'));
  check((await text('.listed-country')).startsWith('(BE, country assumed'), 'the card gives the listed plate\'s country and says it was assumed: ' + await text('.listed-country'));
  check((await text('.camera')) === 'camera be-cam-1', 'the card names the camera: ' + await text('.camera'));
  check((await text('.confidence')) === 'read confidence 64 %', 'the card gives the read confidence: ' + await text('.confidence'));
  const when = await text('.time');
  check(/^2026-07-14 14:34:56 (CEST|GMT\+2) · /.test(when), 'the time has a date, a 24-hour clock and a time zone: ' + when);
  check((await text('.prio')) === 'PRIORITY 0 (highest)', 'priority 0 reads as the highest: ' + await text('.prio'));

  // A read the processor itself turns into a hit: the camera read 1ABC2B4 without a country, its
  // OCR candidate 1-ABC-234 is on the Belgian list, so the hit went to Belgium's route too.
  // Reads of a camera without hits besides, for the status page's reads/s.
  const runId = crypto.randomBytes(4).toString('hex');
  const reads = [{ event_id: 'ev-cand-' + runId, camera_id: 'nl-cam-1', ts: new Date().toISOString(), plate: '1ABC2B4', confidence: 0.64,
    lat: 52.1352, lon: 5.0301, candidates: [{ plate: '1-ABC-234', confidence: 0.3 }] }];
  for (let i = 0; i < 30; i++) reads.push({ event_id: 'ev-' + i + '-' + runId, camera_id: 'lu-cam-1', ts: new Date().toISOString(), plate: 'ZK' + (5100 + i), plate_country: 'LU', confidence: 0.9 });
  await producer.send({ topic: topicReads, acks: -1, messages: reads.map((r) => ({ key: r.camera_id, value: JSON.stringify(r) })) });
  const real = 'li[data-event-id="ev-cand-' + runId + '"]';
  await page.waitForSelector(real, { timeout: 15000 });
  const realText = (sel) => page.textContent(real + ' ' + sel);
  check(await realText('.plate.read') === '1-ABC-234' && await realText('.plate.listed') === '1-ABC-234',
    'a hit made by the processor shows the read and the listed plate in the Belgian form (' + await realText('.plate.read') + ')');
  check((await realText('.read-source')).includes('OCR candidate') && (await realText('.read-source')).includes('1ABC2B4'),
    'a hit made by the processor says its OCR candidate matched: ' + await realText('.read-source'));
  check(await realText('.routes') === 'also reported to BE', 'a hit made by the processor names the partner it was reported to: ' + await realText('.routes'));
  check((await realText('.listed-country')).startsWith('(BE, country assumed'), 'a hit made by the processor says the country was assumed: ' + await realText('.listed-country'));
  check(await realText('.confidence') === 'read confidence 64 %' && await realText('.camera') === 'camera nl-cam-1', 'a hit made by the processor gives camera and read confidence');
  await page.screenshot({ path: path.join(out, 'control-room.png') });

  // Filters: by list; the counts follow them.
  const counts = () => page.textContent('#counts');
  const allCounts = await counts();
  check(allCounts.startsWith('6 open, 0 acknowledged'), 'the counts cover every hit without a filter: ' + allCounts);
  await page.selectOption('select[name=list]', 'nl-stolen');
  check(await page.isHidden(`li[data-hit-id="${h1.hit_id}"]`) && await page.isVisible(`li[data-hit-id="${routine.hit_id}"]`), 'the list filter shows only that list\'s hits');
  check((await counts()).startsWith('1 open, 0 acknowledged (filtered; 6 in all)'), 'the counts follow the list filter: ' + await counts());
  await page.selectOption('select[name=list]', '');
  await page.selectOption('select[name=country]', 'BE');
  check((await counts()).startsWith('1 open') && await page.isVisible(card) && await page.isHidden(`li[data-hit-id="${h1.hit_id}"]`), 'the counts follow the country filter: ' + await counts());
  await page.selectOption('select[name=country]', '');

  // At 800 px wide nothing runs off the side.
  await page.setViewportSize({ width: 800, height: 900 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, 'at 800 px wide the control-room page has no horizontal overflow (' + overflow + ' px)');
  await page.screenshot({ path: path.join(out, 'control-room-800.png') });
  await page.setViewportSize({ width: 1280, height: 720 });

  // Acknowledge: the hit leaves the open queue and the acknowledgement is on anpr.hit-acks.
  await page.click(`li[data-hit-id="${h1.hit_id}"] button.ack`);
  await page.waitForSelector(`li[data-hit-id="${h1.hit_id}"]`, { state: 'detached', timeout: 5000 });
  check(true, 'an acknowledged hit leaves the open queue');
  const consumer = kafka.consumer({ groupId: process.env.GROUP || 'pages-check-' + process.pid });
  await consumer.connect();
  await consumer.subscribe({ topic: topicAcks, fromBeginning: true });
  const ack = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 20000);
    consumer.run({ eachMessage: async ({ message }) => {
      const a = JSON.parse(message.value.toString());
      if (a.hit_id === h1.hit_id) { clearTimeout(timer); resolve(a); }
    } });
  });
  await consumer.disconnect();
  check(ack && ack.acknowledged_by === process.env.TOKEN_CR_NAME, 'the acknowledgement is on anpr.hit-acks with who acknowledged (' + JSON.stringify(ack) + ')');

  // A dropped connection: hits published meanwhile appear after the reconnect.
  await page.route('**/api/v1/hits/stream', (route) => route.abort());
  await page.evaluate(() => window.anprControlRoom.drop());
  await page.waitForFunction(() => document.getElementById('conn').textContent !== 'live', null, { timeout: 5000 });
  const missed = [makeHit({ priority: 30 }), makeHit({ priority: 50, match_kind: 'exact', differences: 0, read_plate: 'HF17DS' })];
  for (const h of missed) await send(h);
  await page.waitForTimeout(1500);
  check(await page.$(`li[data-hit-id="${missed[0].hit_id}"]`) === null, 'while disconnected, new hits do not reach the page');
  const before = streamRequests.length;
  await page.unroute('**/api/v1/hits/stream');
  for (const h of missed) await page.waitForSelector(`li[data-hit-id="${h.hit_id}"]`, { timeout: 10000 });
  const resumed = streamRequests.slice(before).find((h) => h['last-event-id']);
  check(resumed !== undefined, 'after the reconnect the hits published meanwhile are shown (resumed after event ' + (resumed && resumed['last-event-id']) + ')');
  await page.screenshot({ path: path.join(out, 'control-room-after-reconnect.png') });

  // A hit on a covert list that names every room: this room sees it, the map never shows it.
  const covert = makeHit({ camera_id: 'lu-cam-1', site: 'A3 Livange', camera_country: 'LU', control_room: 'ROOM-LU', lat: 49.535, lon: 6.1164,
    list_id: 'nl-secret', covert: true, covert_rooms: ['*'], priority: 50 });
  await send(covert);
  await page.waitForSelector(`li[data-hit-id="${covert.hit_id}"]`, { timeout: 5000 });

  // The status page.
  const status = page;  // the same tab keeps the session (sessionStorage)
  await status.goto(url + '/status');
  await status.waitForSelector('#app:not([hidden])', { timeout: 10000 });
  await status.waitForSelector('#lists tbody tr', { timeout: 10000 });
  const metricsText = await (await fetch(url + '/metrics')).text();
  const line = metricsText.split('\n').find((l) => l.startsWith('anpr_reference_entries{') && l.includes('list="nl-wanted"'));
  const shown = await status.$$eval('#lists tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  const row = shown.find((r) => r[0] === 'nl-wanted');
  check(line && row && Number(line.split(' ').pop()) === Number(row[2].replace(/,/g, '')), 'the status page shows the same list figures as /metrics (' + line + ' / ' + JSON.stringify(row) + ')');
  check(true, 'the status page opens with the same session');

  // The last hour as charts (the server samples every http.status_sample_ms), and the map: the
  // cameras, and a marker where a hit happened, but none for a covert list's hit.
  await status.waitForFunction(() => {
    const lines = [...document.querySelectorAll('#charts polyline.series')];
    return lines.length === 4 && lines.every((l) => Number(l.dataset.count) >= 2);
  }, null, { timeout: 20000 });
  const series = await status.$$eval('#charts figure.chart', (fs) => fs.map((f) => f.dataset.series + ':' + f.querySelector('polyline').getAttribute('points').trim().split(/\s+/).length));
  check(series.length === 4 && ['reads_per_s', 'hits_per_s', 'deadletters_per_s', 'consumer_lag'].every((k) => series.some((s) => s.startsWith(k + ':'))),
    'the status page charts reads/s, hits/s, dead letters/s and consumer lag with points (' + series.join(' ') + ')');
  await status.waitForSelector('#map svg circle.camera', { timeout: 10000 });
  const cams = await status.$$eval('#map circle.camera', (cs) => cs.map((c) => c.dataset.cameraId).sort());
  check(JSON.stringify(cams) === JSON.stringify(['be-cam-1', 'lu-cam-1', 'nl-cam-1']), 'the map shows the registry\'s cameras (' + cams.join(',') + ')');
  const markers = await status.$$eval('#map circle.hit-marker', (cs) => cs.map((c) => c.querySelector('title').textContent));
  check(markers.some((t) => t.includes('be-cam-1')) && markers.some((t) => t.includes('nl-cam-1')), 'the map marks where recent hits happened (' + markers.join(' | ') + ')');
  check(!markers.some((t) => t.includes('lu-cam-1')), 'the covert hit is not on the map');
  check(await status.$$eval('#map path.country', (ps) => ps.map((p) => p.dataset.country).sort().join(',')) === 'BE,LU,NL', 'the map draws the Benelux outline');
  check(await status.evaluate(() => performance.getEntriesByType('resource').every((r) => r.name.startsWith(location.origin))), 'the status page loads nothing from another server');
  await status.screenshot({ path: path.join(out, 'status.png'), fullPage: false });
  await status.setViewportSize({ width: 800, height: 900 });
  await status.waitForTimeout(300);
  const statusOverflow = await status.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(statusOverflow <= 0, 'at 800 px wide the status page has no horizontal overflow (' + statusOverflow + ' px)');
  await status.screenshot({ path: path.join(out, 'status-800.png'), fullPage: false });

  // The operators' page: the lists, and an upload whose bad row is shown with its reason.
  const ops = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
  await ops.goto(url + '/lists');
  await ops.waitForSelector('#login:not([hidden])', { timeout: 10000 });
  await ops.fill('#token', process.env.TOKEN_OP);
  await ops.click('#login-form button[type=submit]');
  await ops.waitForSelector('#lists tr[data-list-id="nl-wanted"]', { timeout: 10000 });
  check(true, 'the operators\' page lists the active lists');
  await ops.fill('input[name=id]', 'nl-wanted');
  await ops.setInputFiles('input[name=sidecar]', { name: 'nl-wanted.toml', mimeType: 'text/plain', buffer: Buffer.from('id = "nl-wanted"\nowner_country = "NL"\nmatch_mode = "ocr"\ncategory = "wanted_person"\n') });
  await ops.setInputFiles('input[name=rows]', { name: 'nl-wanted.csv', mimeType: 'text/csv', buffer: Buffer.from('plate,plate_country,reference\nHF-17-DS,NL,NL-WP-77813\nXX-99-XX,NL,NL-WP-2\n12-AB-34,NL,NL-WP-3\n!!!,NL,NL-WP-4\n') });
  await ops.click('#check');
  await ops.waitForSelector('#result:not([hidden]) #report tbody tr', { timeout: 10000 });
  const checked = await ops.$$eval('#report tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  check(checked.some((r) => r[1] === '5'), 'checking an upload shows its bad row by line and reason before loading (' + JSON.stringify(checked) + ')');
  await ops.screenshot({ path: path.join(out, 'lists-check.png') });
  await ops.click('#load');
  await ops.waitForFunction(() => document.getElementById('result-title').textContent.startsWith('Not loaded') || document.getElementById('result-title').textContent.startsWith('Loaded'), null, { timeout: 10000 });
  const title = await ops.textContent('#result-title');
  const after = await ops.$$eval('#report tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  check(title.startsWith('Not loaded') && after.some((r) => r[1] === '5' && r[3].length > 0), 'loading it is refused (1 bad row in 4 is over the threshold) and the page shows the row and its reason: ' + title + ' ' + JSON.stringify(after));
  await ops.screenshot({ path: path.join(out, 'lists-refused.png') });

  await browser.close();
  await producer.disconnect();
}

main().then(() => { console.log('OK'); process.exit(0); }, (e) => { console.error(e.message || e); process.exit(1); });
