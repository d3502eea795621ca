// Reads a consumer group's committed offsets and a topic's end offsets with the KafkaJS admin
// client (a Kafka client we did not write), so the tests check what the processor committed
// without asking the processor. Prints one line per partition, "PARTITION COMMITTED END"
// (COMMITTED is -1 when the group has committed nothing for it), then "OK".
//
// Usage: node offsets.js BOOTSTRAP GROUP TOPIC
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, groupId, topic] = process.argv.slice(2);

async function main() {
  const kafka = new Kafka({ clientId: 'anpr-offsets-check', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    const byPartition = new Map();
    for (const t of committed) {
      if (t.topic !== topic) continue;
      for (const p of t.partitions) byPartition.set(p.partition, p.offset);
    }
    ends.sort((a, b) => a.partition - b.partition);
    for (const e of ends) {
      const c = byPartition.has(e.partition) ? byPartition.get(e.partition) : '-1';
      console.log(`${e.partition} ${c} ${e.high}`);
    }
  } finally {
    await admin.disconnect();
  }
  console.log('OK');
}

main().catch((e) => { console.error(e.message); process.exit(3); });
