import { EVENT_SCHEMA_VERSION } from './events';

/**
 * Event versioning. A stored event is never edited: when an event type's payload changes shape,
 * its EVENT_SCHEMA_VERSION goes up by one and an upcaster from the old version to the new one is
 * added to DOMAIN_UPCASTERS below. Events are upcast as they are read (UpcastingEventStore in the
 * application layer, on every read path: stream reads for command handlers, the global log for
 * process managers, projections and the integration relay), so deciders and projections only
 * ever see the current shape of each type.
 */

/** Turns the data of a `type` event at schema version `from` into its shape at `from + 1`. Pure. */
export interface Upcaster {
  type: string;
  from: number;
  upcast(data: unknown): unknown;
}

/** What an upcast gives: the data in the current shape, and the version that shape is. */
export interface Upcast {
  schemaVersion: number;
  data: unknown;
}

/** A stored event this build cannot bring to its current shape: reading it would misread it. */
export class UnreadableEventVersionError extends Error {
  readonly code = 'UNREADABLE_EVENT_VERSION';

  constructor(
    readonly type: string,
    readonly schemaVersion: number,
    readonly currentVersion: number,
    reason: string,
  ) {
    super(
      `event type ${type} at schema version ${schemaVersion} cannot be read by this build (current version ${currentVersion}): ${reason}`,
    );
    this.name = 'UnreadableEventVersionError';
  }
}

/**
 * The upcasters, keyed by event type and the schema version they upcast from, and the current
 * version of each type. Checked when built: every type's chain from 1 to its current version must
 * be complete, so a gap is a start-up error rather than a failure on the first old event read.
 */
export class UpcasterRegistry {
  private readonly upcasters = new Map<string, Upcaster>();

  constructor(
    private readonly currentVersions: Readonly<Record<string, number>>,
    upcasters: readonly Upcaster[] = [],
  ) {
    for (const [type, version] of Object.entries(currentVersions)) {
      if (!Number.isSafeInteger(version) || version < 1)
        throw new RangeError(`event type ${type}: current schema version must be a positive integer, got ${version}`);
    }
    for (const upcaster of upcasters) {
      const current = currentVersions[upcaster.type];
      if (current === undefined) throw new RangeError(`upcaster for ${upcaster.type}: the type has no current schema version`);
      if (!Number.isSafeInteger(upcaster.from) || upcaster.from < 1 || upcaster.from >= current) {
        throw new RangeError(
          `upcaster for ${upcaster.type} from version ${upcaster.from}: must be from 1 to ${current - 1}, the current version being ${current}`,
        );
      }
      const key = keyOf(upcaster.type, upcaster.from);
      if (this.upcasters.has(key)) throw new RangeError(`two upcasters for ${upcaster.type} from version ${upcaster.from}`);
      this.upcasters.set(key, upcaster);
    }
    for (const [type, current] of Object.entries(currentVersions)) {
      for (let version = 1; version < current; version++) {
        if (!this.upcasters.has(keyOf(type, version))) {
          throw new RangeError(`event type ${type} is at schema version ${current} but has no upcaster from version ${version}`);
        }
      }
    }
  }

  /** The current schema version of `type`; undefined for a type this build does not know. */
  currentVersion(type: string): number | undefined {
    return Object.hasOwn(this.currentVersions, type) ? this.currentVersions[type] : undefined;
  }

  /**
   * Brings an event's data from the version it was stored at to the current one, one upcaster at
   * a time (v1 -> v2 -> v3). A version newer than the current one (written by a later build) or
   * not a positive integer throws UnreadableEventVersionError. A type this build does not know is
   * given back as it is: nothing here interprets it, so nothing can misread it.
   */
  upcast(type: string, schemaVersion: number, data: unknown): Upcast {
    const current = this.currentVersion(type);
    if (current === undefined) return { schemaVersion, data };
    if (!Number.isSafeInteger(schemaVersion) || schemaVersion < 1) {
      throw new UnreadableEventVersionError(type, schemaVersion, current, 'a schema version is a positive integer');
    }
    if (schemaVersion > current) {
      throw new UnreadableEventVersionError(type, schemaVersion, current, 'it was written by a newer build; upgrade this one');
    }
    let upcast = data;
    for (let version = schemaVersion; version < current; version++) {
      // Present for every version below the current one: the constructor checked the chain.
      upcast = this.upcasters.get(keyOf(type, version))!.upcast(upcast);
    }
    return { schemaVersion: current, data: upcast };
  }
}

function keyOf(type: string, from: number): string {
  return `${type}@${from}`;
}

/**
 * The upcasters of Custodia's domain events. Empty while every type is at version 1: the first
 * change of a payload's shape adds `{ type, from: 1, upcast }` here and raises the type's
 * EVENT_SCHEMA_VERSION to 2.
 */
export const DOMAIN_UPCASTERS = new UpcasterRegistry(EVENT_SCHEMA_VERSION, []);
