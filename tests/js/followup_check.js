// Browser test of follow-up on the control-room page (docs/control-room.md) across two processor
// instances on one broker: accept, reject (with a reason) and record an outcome on instance A's
// page, and see each on instance B's page; see an escalation (followup.escalate_after_s is small
// in the test's config). Playwright drives Debian's chromium, headless; KafkaJS produces hits.
// Prints one line per check; exits 0 when every check passed, 1 on the first failure.
//
// Environment: URL_A, URL_B (the two instances), ANPR_BROKERS, TOKEN_CR (controlroom, all
// rooms), TOPIC_HITS, OUT_DIR (screenshots), CHROMIUM (default /usr/bin/chromium).
'use strict';
const { chromium } = require('playwright-core');
const { Kafka, logLevel } = require('kafkajs');
const crypto = require('crypto');
const path = require('path');

const urlA = process.env.URL_A, urlB = process.env.URL_B;
const out = process.env.OUT_DIR || '.';
const topicHits = process.env.TOPIC_HITS || 'anpr.hits';
const kafka = new Kafka({ clientId: 'anpr-followup-check', brokers: process.env.ANPR_BROKERS.split(','), logLevel: logLevel.NOTHING });

function check(cond, what) {
  if (!cond) throw new Error('FAILED: ' + what);
  console.log('ok: ' + what);
}

function makeHit(opts) {
  const id = crypto.randomBytes(16).toString('hex');
  return Object.assign({
    hit_id: id, event_id: 'ev-' + id.slice(0, 8), camera_id: 'nl-cam-1', site: 'A2 Maarssen',
    camera_country: 'NL', control_room: 'ROOM-NL', ts: new Date().toISOString(), plate: 'HF-17-DS',
    plate_country: 'NL', confidence: 0.93, lane: 2, direction: 'north', lat: 52.1352, lon: 5.0301,
    plate_normalized: 'HF17DS', read_plate: 'HF17DS', read_plate_source: 'plate',
    matched_plate: 'HF17DS', matched_plate_display: 'HF-17-DS', matched_country: 'NL',
    country_assumed: false, match_kind: 'exact', differences: 0, list_id: 'nl-wanted',
    list_version: 'v1', list_owner: 'NL', category: 'stolen_vehicle', action: 'intercept',
    priority: 50, reference: 'NL-SV-' + id.slice(0, 5), valid_until: null, routes: [],
  }, opts || {});
}

async function open(browser, url, width, height) {
  const page = await (await browser.newContext({ viewport: { width, height } })).newPage();
  await page.goto(url + '/');
  await page.waitForSelector('#login:not([hidden])', { timeout: 10000 });
  await page.fill('#token', process.env.TOKEN_CR);
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('conn').textContent === 'live', null, { timeout: 10000 });
  // Keep acknowledged (and so accepted or rejected) hits in view.
  await page.check('input[name=acked]');
  return page;
}

const card = (h) => `li[data-hit-id="${h.hit_id}"]`;

async function main() {
  const producer = kafka.producer();
  await producer.connect();
  const send = (hit) => producer.send({ topic: topicHits, acks: -1, messages: [{ key: hit.camera_id, value: JSON.stringify(hit) }] });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  const a = await open(browser, urlA, 1280, 720);
  const b = await open(browser, urlB, 1280, 720);
  check(true, 'both instances\' pages are live');

  const toAccept = makeHit({ priority: 40 });
  const toReject = makeHit({ priority: 60, match_kind: 'ocr', differences: 1, read_plate: 'HF17D5', plate: 'HF-17-D5', category: 'wanted_person', action: 'observe' });
  const urgent = makeHit({ priority: 3, category: 'wanted_person', action: 'intercept', reference: 'NL-WP-77813' });
  for (const h of [toAccept, toReject, urgent]) await send(h);
  for (const p of [a, b]) for (const h of [toAccept, toReject, urgent]) await p.waitForSelector(card(h) + ' .fu-accept', { timeout: 10000 });
  check(true, 'each hit shows Accept and Reject on both pages');

  // Accept on A: B shows it accepted by the same person.
  await a.click(card(toAccept) + ' .fu-accept');
  await a.waitForSelector(card(toAccept) + ' .fu-accepted', { timeout: 10000 });
  await b.waitForSelector(card(toAccept) + ' .fu-accepted', { timeout: 10000 });
  check((await b.textContent(card(toAccept) + ' .fu-by')).startsWith('by carl'), 'an acceptance on A shows on B with who made it');
  check(await b.isVisible(card(toAccept) + ' .fu-outcome-code'), 'B offers the outcome picker for the accepted hit');
  check(await b.isHidden(card(toAccept) + ' .fu-accept'), 'B no longer offers Accept for it');

  // Reject on A: `other` needs a note (refused on the page, nothing sent), then a coded reason.
  await a.selectOption(card(toReject) + ' .fu-reason', 'other');
  await a.click(card(toReject) + ' .fu-reject');
  check((await a.textContent(card(toReject) + ' .fu-msg')).includes('needs a note'), 'rejecting for "other" without a note is refused with a message');
  await a.selectOption(card(toReject) + ' .fu-reason', 'misread');
  await a.fill(card(toReject) + ' .fu-note', 'camera read D5, the car has DS');
  await a.click(card(toReject) + ' .fu-reject');
  await b.waitForSelector(card(toReject) + ' .fu-rejected', { timeout: 10000 });
  const rejectedText = await b.textContent(card(toReject) + ' .followup');
  check(rejectedText.includes('rejected: misread') && rejectedText.includes('camera read D5'), 'a rejection on A shows on B with its reason and note (' + rejectedText + ')');
  check(await b.isHidden(card(toReject) + ' .fu-outcome-code'), 'a rejected hit offers no outcome');

  // The outcome on A: B shows it.
  await a.selectOption(card(toAccept) + ' .fu-outcome-code', 'intercepted');
  await a.fill(card(toAccept) + ' .fu-note', 'stopped at A2 exit 5');
  await a.click(card(toAccept) + ' .fu-record');
  await b.waitForSelector(card(toAccept) + ' .fu-outcome', { timeout: 10000 });
  check((await b.textContent(card(toAccept) + ' .fu-outcome')).includes('intercepted'), 'an outcome recorded on A shows on B');

  // The same request again through the API answers the stored record; another one is refused.
  const api = (url, p, body) => fetch(url + p, { method: 'POST', headers: { Authorization: 'Bearer ' + process.env.TOKEN_CR, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  let res = await api(urlB, '/api/v1/hits/' + toAccept.hit_id + '/outcome', { outcome: 'intercepted', note: 'stopped at A2 exit 5' });
  check(res.status === 200, 'the same outcome again on B answers 200 (got ' + res.status + ')');
  res = await api(urlB, '/api/v1/hits/' + toAccept.hit_id + '/outcome', { outcome: 'not_found' });
  check(res.status === 409, 'another outcome on B is a conflict (got ' + res.status + ')');

  // Escalation: the urgent hit, left alone, is escalated on both pages.
  for (const p of [a, b]) await p.waitForSelector(card(urgent) + '.escalated .fu-escalated', { timeout: 15000 });
  check(true, 'an urgent hit not acknowledged in time is shown escalated on both pages');
  const escalatedMetric = (await (await fetch(urlA + '/metrics')).text()).split('\n').find((l) => l.startsWith('anpr_hits_escalated_total'));
  check(escalatedMetric && Number(escalatedMetric.split(' ').pop()) >= 1, 'instance A counts the escalation (' + escalatedMetric + ')');

  // Screenshots of the follow-up states: 1280x720 and 800 px wide.
  await a.screenshot({ path: path.join(out, 'control-room-followup.png') });
  await a.setViewportSize({ width: 800, height: 900 });
  await a.screenshot({ path: path.join(out, 'control-room-followup-800.png') });
  await a.setViewportSize({ width: 1280, height: 720 });

  // Accepting the escalated hit ends its escalation on both pages.
  await b.click(card(urgent) + ' .fu-accept');
  for (const p of [a, b]) await p.waitForSelector(card(urgent) + ':not(.escalated) .fu-accepted', { timeout: 10000 });
  check(true, 'accepting an escalated hit on B clears the escalation on both pages');

  await browser.close();
  await producer.disconnect();
}

main().then(() => { console.log('OK'); process.exit(0); }, (e) => { console.error(e.message || e); process.exit(1); });
