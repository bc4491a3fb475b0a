import { parentPort, workerData } from 'node:worker_threads';
import type { NewEvent } from '../../../src/application/ports/event-store';
import { SqliteEventStore } from '../../../src/infrastructure/event-store/sqlite-event-store';
import { appendWithRetries } from './append-with-retries';

/** A second "process": its own thread and its own connection to the database file. */
export interface AppenderWorkerData {
  file: string;
  stream: string;
  events: NewEvent[];
  /** One Int32 counting the workers that are ready, shared by all of them. */
  startLine: SharedArrayBuffer;
  workers: number;
}

/** Holds every worker until all have started, so opening the file and appending really overlap. */
function waitForEveryWorker(startLine: SharedArrayBuffer, workers: number): void {
  const ready = new Int32Array(startLine);
  Atomics.add(ready, 0, 1);
  Atomics.notify(ready, 0);
  for (let arrived = Atomics.load(ready, 0); arrived < workers; arrived = Atomics.load(ready, 0)) Atomics.wait(ready, 0, arrived);
}

async function main({ file, stream, events, startLine, workers }: AppenderWorkerData): Promise<void> {
  waitForEveryWorker(startLine, workers);
  const store = await SqliteEventStore.open(file);
  try {
    // A millisecond to decide is far longer than a commit, so the other thread often gets in.
    const decide = () => new Promise<void>((resolve) => setTimeout(resolve, 1));
    parentPort!.postMessage(await appendWithRetries(store, stream, events, decide));
  } finally {
    await store.close();
  }
}

void main(workerData as AppenderWorkerData);
