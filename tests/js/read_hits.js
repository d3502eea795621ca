// Reads a hits topic with KafkaJS in a consumer group and checks that every message is a hit
// (docs/design.md §3): valid JSON with the contract's fields and types. Prints one line per hit,
// "event_id list_id reference hit_id", then "OK <count>" and exits 0 once `expected` hits have
// been read; exits 1 on the first message that is not a valid hit, 2 on timeout.
//
// ISOLATION is read_committed (KafkaJS's default: messages of aborted or open transactions are
// not read) or read_uncommitted.
//
// Usage: node read_hits.js BOOTSTRAP TOPIC EXPECTED [TIMEOUT_S] [ISOLATION]
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, topic, expectedText, timeoutText, isolation] = process.argv.slice(2);
if (isolation && !['read_committed', 'read_uncommitted'].includes(isolation)) {
  console.error(`isolation ${isolation}: expected read_committed or read_uncommitted`);
  process.exit(3);
}
const expected = Number(expectedText);
const timeoutMs = Number(timeoutText || 60) * 1000;

const fields = {
  hit_id: 'string', event_id: 'string', camera_id: 'string', ts: 'string', plate: 'string',
  plate_country: 'string', plate_normalized: 'string', matched_plate: 'string',
  match_kind: 'string', differences: 'number', list_id: 'string', list_version: 'string',
  list_owner: 'string', category: 'string', action: 'string', priority: 'number',
  reference: 'string', routes: 'object',
};

function check(value) {
  const hit = JSON.parse(value);
  for (const [k, type] of Object.entries(fields)) {
    if (typeof hit[k] !== type) throw new Error(`field ${k}: expected ${type}, got ${typeof hit[k]}`);
  }
  if (!/^[0-9a-f]{32}$/.test(hit.hit_id)) throw new Error(`hit_id ${hit.hit_id} is not 32 hex digits`);
  if (!['exact', 'ocr', 'edit'].includes(hit.match_kind)) throw new Error(`match_kind ${hit.match_kind}`);
  if (!['intercept', 'observe', 'notify'].includes(hit.action)) throw new Error(`action ${hit.action}`);
  if (hit.priority < 0 || hit.priority > 100) throw new Error(`priority ${hit.priority}`);
  if (!Array.isArray(hit.routes)) throw new Error('routes is not an array');
  if (Number.isNaN(Date.parse(hit.ts))) throw new Error(`ts ${hit.ts}`);
  return hit;
}

async function main() {
  const kafka = new Kafka({ clientId: 'anpr-kafkajs-check', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId: `kafkajs-check-${process.pid}`,
    readUncommitted: isolation === 'read_uncommitted',
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let count = 0;
  let failure = null;
  const done = new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    consumer.run({
      eachMessage: async ({ message }) => {
        try {
          const hit = check(message.value.toString('utf8'));
          console.log(`${hit.event_id} ${hit.list_id} ${hit.reference} ${hit.hit_id}`);
          count += 1;
          if (count >= expected) { clearTimeout(timer); resolve('ok'); }
        } catch (e) {
          failure = e;
          clearTimeout(timer);
          resolve('bad');
        }
      },
    });
  });
  const result = await done;
  await consumer.disconnect();
  if (result === 'bad') { console.error(`not a valid hit: ${failure.message}`); process.exit(1); }
  if (result === 'timeout') { console.error(`timeout: ${count} of ${expected} hits`); process.exit(2); }
  console.log(`OK ${count}`);
  process.exit(0);
}

main().catch((e) => { console.error(e.message); process.exit(3); });
