import { DOMAIN_UPCASTERS, EVENT_SCHEMA_VERSION, UnreadableEventVersionError, Upcaster, UpcasterRegistry } from '../../src/domain';

/** A made-up event type whose payload changed twice: `title` became `name` (v2), then `tags` a list (v3). */
const v1ToV2: Upcaster = {
  type: 'NoteTaken',
  from: 1,
  upcast: (data) => {
    const { title, ...rest } = data as { title: string; tags: string };
    return { ...rest, name: title };
  },
};
const v2ToV3: Upcaster = {
  type: 'NoteTaken',
  from: 2,
  upcast: (data) => {
    const { tags, ...rest } = data as { name: string; tags: string };
    return { ...rest, tags: tags.split(',') };
  },
};

describe('UpcasterRegistry', () => {
  const registry = new UpcasterRegistry({ NoteTaken: 3, Other: 1 }, [v2ToV3, v1ToV2]);

  it('chains upcasters from the stored version to the current one, in version order', () => {
    expect(registry.upcast('NoteTaken', 1, { title: 'a', tags: 'x,y' })).toEqual({
      schemaVersion: 3,
      data: { name: 'a', tags: ['x', 'y'] },
    });
    expect(registry.upcast('NoteTaken', 2, { name: 'b', tags: 'z' })).toEqual({ schemaVersion: 3, data: { name: 'b', tags: ['z'] } });
  });

  it('gives back an event already at its current version as it is', () => {
    const data = { name: 'c', tags: ['q'] };
    expect(registry.upcast('NoteTaken', 3, data)).toEqual({ schemaVersion: 3, data });
    expect(registry.upcast('NoteTaken', 3, data).data).toBe(data);
  });

  it('refuses a version newer than the current one with a clear error, rather than misreading it', () => {
    const read = () => registry.upcast('NoteTaken', 4, { name: 'd' });

    expect(read).toThrow(UnreadableEventVersionError);
    expect(read).toThrow(/NoteTaken at schema version 4 .*\(current version 3\).*newer build/);
    expect(() => registry.upcast('NoteTaken', 0, {})).toThrow(UnreadableEventVersionError);
    expect(() => registry.upcast('NoteTaken', 1.5, {})).toThrow(UnreadableEventVersionError);
  });

  it('passes a type it does not know through unchanged: nothing here interprets it', () => {
    expect(registry.upcast('SomethingElse', 7, { a: 1 })).toEqual({ schemaVersion: 7, data: { a: 1 } });
  });

  it('refuses, when built, a chain with a gap, a duplicate, or an upcaster that goes nowhere', () => {
    expect(() => new UpcasterRegistry({ NoteTaken: 3 }, [v2ToV3])).toThrow(/no upcaster from version 1/);
    expect(() => new UpcasterRegistry({ NoteTaken: 3 }, [v1ToV2, v1ToV2, v2ToV3])).toThrow(/two upcasters/);
    expect(() => new UpcasterRegistry({ NoteTaken: 2 }, [v1ToV2, v2ToV3])).toThrow(/from 1 to 1/);
    expect(() => new UpcasterRegistry({}, [v1ToV2])).toThrow(/no current schema version/);
    expect(() => new UpcasterRegistry({ NoteTaken: 0 })).toThrow(RangeError);
  });

  it('knows every domain event type at the version the writer stamps on it', () => {
    for (const [type, version] of Object.entries(EVENT_SCHEMA_VERSION)) expect(DOMAIN_UPCASTERS.currentVersion(type)).toBe(version);
  });
});
