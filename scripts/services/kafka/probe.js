#!/usr/bin/env node
/**
 * Readiness probe for the Kafka broker that scripts/services.sh starts: talks to it with the
 * project's own client (kafkajs). Exits 0 once the broker answers metadata requests and the group
 * coordinator is available (asking for it makes the broker create __consumer_offsets, so the
 * first consumer group of a test does not wait for that), 1 otherwise. Usage:
 *   node scripts/services/kafka/probe.js [brokers] [timeoutMs]
 * Prints one line on failure. It needs `npm ci` to have run (kafkajs is a dependency).
 */
'use strict';

const path = require('node:path');

const brokers = (process.argv[2] || process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const timeoutMs = Number(process.argv[3] || 10000);

let kafkajs;
try {
  kafkajs = require(require.resolve('kafkajs', { paths: [path.resolve(__dirname, '../../..')] }));
} catch {
  console.log('kafkajs is not installed (run npm ci)');
  process.exit(2);
}

const { Kafka, logLevel } = kafkajs;

async function main() {
  const kafka = new Kafka({
    clientId: 'custodia-services-probe',
    brokers,
    connectionTimeout: 2000,
    requestTimeout: 5000,
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 2000 },
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error('no brokers in the cluster metadata');
    // FindCoordinator for a group: retried by kafkajs while the offsets topic is being created.
    await admin.describeGroups(['custodia-services-probe']);
  } finally {
    await admin.disconnect();
  }
}

const timer = setTimeout(() => {
  console.log(`no answer from Kafka at ${brokers.join(',')} within ${timeoutMs} ms`);
  process.exit(1);
}, timeoutMs);

main().then(
  () => {
    clearTimeout(timer);
    process.exit(0);
  },
  (error) => {
    console.log(`Kafka at ${brokers.join(',')} is not ready: ${error && error.message ? error.message : error}`);
    process.exit(1);
  },
);
