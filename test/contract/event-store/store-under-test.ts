import type { CheckpointStore, EventStore } from '../../../src/application/ports/event-store';

export type Store = EventStore & CheckpointStore;

/** What an adapter's spec hands the contract for each test. */
export interface EventStoreFixture {
  /** A store to test; it may share its database with earlier tests (cases use unique names). */
  store: Store;
  /** Opens the same database again, after the contract has closed `store`. */
  reopen?: () => Promise<Store>;
  /** Runs after the contract has closed the last store it used. */
  cleanup: () => Promise<void>;
}

export type EventStoreFactory = () => Promise<EventStoreFixture>;

/** The store a case works with; reopening swaps it, so cases always ask for the current one. */
export class StoreUnderTest {
  private constructor(
    private readonly fixture: EventStoreFixture,
    private current: Store,
  ) {}

  static async create(factory: EventStoreFactory): Promise<StoreUnderTest> {
    const fixture = await factory();
    return new StoreUnderTest(fixture, fixture.store);
  }

  get store(): Store {
    return this.current;
  }

  get canReopen(): boolean {
    return this.fixture.reopen !== undefined;
  }

  async closeAndReopen(): Promise<Store> {
    if (!this.fixture.reopen) throw new Error('this adapter cannot reopen its store');
    await this.current.close();
    this.current = await this.fixture.reopen();
    return this.current;
  }

  async dispose(): Promise<void> {
    try {
      await this.current.close();
    } finally {
      await this.fixture.cleanup();
    }
  }
}

/** A fresh store for every test of the enclosing describe block, closed and cleaned up after it. */
export function useStoreUnderTest(factory: EventStoreFactory): () => StoreUnderTest {
  let subject: StoreUnderTest | undefined;
  beforeEach(async () => {
    subject = await StoreUnderTest.create(factory);
  });
  afterEach(async () => {
    const finished = subject;
    subject = undefined;
    await finished?.dispose();
  });
  return () => {
    if (!subject) throw new Error('the store under test exists only while a test runs');
    return subject;
  };
}
