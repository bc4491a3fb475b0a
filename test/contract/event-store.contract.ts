import { appendingCases } from './event-store/appending.cases';
import { checkpointCases } from './event-store/checkpoints.cases';
import { idempotencyCases } from './event-store/idempotency.cases';
import { readingCases } from './event-store/reading.cases';
import { rulesCases } from './event-store/rules.cases';
import { EventStoreFactory, useStoreUnderTest } from './event-store/store-under-test';
import { subscriptionCases } from './event-store/subscriptions.cases';

export type { EventStoreFactory, EventStoreFixture, Store } from './event-store/store-under-test';

/**
 * The behaviour every EventStore + CheckpointStore adapter must have, written against the port
 * alone. An adapter's spec calls this with a factory giving a store per test; cases only use
 * names unique to themselves, so the store need not be empty.
 */
export function eventStoreContract(name: string, factory: EventStoreFactory): void {
  describe(`${name}: event store contract`, () => {
    const subject = useStoreUnderTest(factory);
    appendingCases(subject);
    idempotencyCases(subject);
    readingCases(subject);
    rulesCases(subject);
    checkpointCases(subject);
    subscriptionCases(subject);
  });
}
