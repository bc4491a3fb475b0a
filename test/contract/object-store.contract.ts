import { ObjectNotFoundError, ObjectStore } from '../../src/engine/storage/object-store';
import { pseudoRandomBytes, sha256 } from '../support/tree';
import { errorOf } from '../support/error-of';

/** What an adapter's spec hands the contract for each test: an empty store, and how to dispose of it. */
export interface ObjectStoreFixture {
  store: ObjectStore;
  cleanup: () => Promise<void>;
}

/**
 * What every ObjectStore adapter must do, written against the port alone: the folder store
 * (unit run) and the S3 store against S3Proxy (integration run) pass it. The factory gives an
 * empty store per test. Prefixes are folder prefixes ('' or ending in '/'), the only kind the
 * engine lists by: the folder store does not match a prefix that ends inside a name.
 */
export function objectStoreContract(name: string, factory: () => Promise<ObjectStoreFixture>): void {
  describe(`${name}: object store contract`, () => {
    let fixture: ObjectStoreFixture;
    let store: ObjectStore;

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('puts, gets, stats and deletes objects; a missing key is ObjectNotFoundError or null', async () => {
      const data = pseudoRandomBytes('basic', 100_000);
      await store.put('data/ab/abcdef', data);
      await store.put('config', Buffer.from('{"format":"x"}'));
      await store.put('empty', Buffer.alloc(0));

      expect(sha256(await store.get('data/ab/abcdef'))).toBe(sha256(data));
      expect((await store.get('config')).toString()).toBe('{"format":"x"}');
      expect(await store.get('empty')).toEqual(Buffer.alloc(0));
      expect(await store.stat('data/ab/abcdef')).toEqual({ key: 'data/ab/abcdef', size: 100_000 });
      expect(await store.stat('empty')).toEqual({ key: 'empty', size: 0 });
      expect(await store.stat('data/ab/missing')).toBeNull();
      expect(await store.exists()).toBe(true);

      const missing = await errorOf(() => store.get('data/ab/missing'));
      expect(missing).toBeInstanceOf(ObjectNotFoundError);
      expect((missing as ObjectNotFoundError).key).toBe('data/ab/missing');
      expect(await errorOf(() => store.getRange('data/ab/missing', 0, 10))).toBeInstanceOf(ObjectNotFoundError);
      expect(await errorOf(() => store.get('nowhere/at/all'))).toBeInstanceOf(ObjectNotFoundError);

      await store.delete('data/ab/abcdef');
      expect(await store.stat('data/ab/abcdef')).toBeNull();
      expect(await errorOf(() => store.get('data/ab/abcdef'))).toBeInstanceOf(ObjectNotFoundError);
      await store.delete('data/ab/abcdef'); // deleting a missing key is not an error
      expect((await store.list('')).map((object) => object.key)).toEqual(['config', 'empty']);
    });

    it('an object written again under the same key is replaced whole', async () => {
      await store.put('snapshots/one', Buffer.from('first version, longer'));
      await store.put('snapshots/one', Buffer.from('second'));
      expect((await store.get('snapshots/one')).toString()).toBe('second');
      expect(await store.stat('snapshots/one')).toEqual({ key: 'snapshots/one', size: 6 });
      expect(await store.list('snapshots/')).toEqual([{ key: 'snapshots/one', size: 6 }]);
    });

    it('objects written at once under one key leave one of them whole, and one listing entry', async () => {
      const versions = Array.from({ length: 6 }, (_, i) => pseudoRandomBytes(`version-${i}`, 20_000 + i * 1_000));
      await Promise.all(versions.map((version) => store.put('index/contended', version)));

      const stored = await store.get('index/contended');
      expect(versions.map(sha256)).toContain(sha256(stored));
      expect(await store.list('index/')).toEqual([{ key: 'index/contended', size: stored.length }]);
      expect(await store.listLeftovers()).toEqual([]);
    });

    it('getRange reads a slice, shortened at the end of the object', async () => {
      const data = pseudoRandomBytes('range', 50_000);
      await store.put('data/00/pack', data);

      expect(await store.getRange('data/00/pack', 0, 100)).toEqual(data.subarray(0, 100));
      expect(await store.getRange('data/00/pack', 12_345, 6_789)).toEqual(data.subarray(12_345, 12_345 + 6_789));
      expect(await store.getRange('data/00/pack', 49_990, 10)).toEqual(data.subarray(49_990));
      expect(await store.getRange('data/00/pack', 49_990, 100)).toEqual(data.subarray(49_990)); // past the end: shortened
      expect(await store.getRange('data/00/pack', 50_000, 10)).toEqual(Buffer.alloc(0)); // at the end: nothing
      expect(await store.getRange('data/00/pack', 10, 0)).toEqual(Buffer.alloc(0));
    });

    it('a range of an object replaced since is read from the new object', async () => {
      await store.put('data/01/pack', Buffer.from('0123456789'));
      expect((await store.getRange('data/01/pack', 2, 3)).toString()).toBe('234');
      await store.put('data/01/pack', Buffer.from('abcdefghij'));
      expect((await store.getRange('data/01/pack', 2, 3)).toString()).toBe('cde');
      await store.delete('data/01/pack');
      expect(await errorOf(() => store.getRange('data/01/pack', 2, 3))).toBeInstanceOf(ObjectNotFoundError);
    });

    it('lists exactly the objects under a folder prefix, sorted by key, with their sizes', async () => {
      const keys = Array.from({ length: 12 }, (_, i) => `data/${(i % 3).toString(16).padStart(2, '0')}/pack-${String(i).padStart(3, '0')}`);
      await Promise.all(keys.map((key, i) => store.put(key, Buffer.alloc(i, 1))));
      await store.put('index/one', Buffer.from('i'));
      await store.put('database', Buffer.from('not under data/'));

      const listed = await store.list('data/');
      expect(listed.map((object) => object.key)).toEqual([...keys].sort());
      expect(listed.find((object) => object.key === 'data/02/pack-011')?.size).toBe(11);
      expect((await store.list('data/01/')).map((object) => object.key)).toEqual(keys.filter((key) => key.startsWith('data/01/')).sort());
      expect((await store.list('index/')).map((object) => object.key)).toEqual(['index/one']);
      expect(await store.list('snapshots/')).toEqual([]);
      expect(await store.list('')).toHaveLength(keys.length + 2);
    });

    it('lists what many writes at once stored, and nothing else: no temporary names, no leftovers', async () => {
      const keys = Array.from({ length: 40 }, (_, i) => `data/${String(i % 4).padStart(2, '0')}/object-${i}`);
      await Promise.all(keys.map((key, i) => store.put(key, pseudoRandomBytes(key, 1_000 + i))));

      expect(await store.list('data/')).toEqual([...keys].sort().map((key) => ({ key, size: 1_000 + keys.indexOf(key) })));
      expect(await store.listLeftovers()).toEqual([]);
      await Promise.all(keys.slice(0, 10).map((key) => store.delete(key)));
      expect((await store.list('data/')).map((object) => object.key)).toEqual(keys.slice(10).sort());
    });

    it('keeps keys with spaces, punctuation and non-ASCII letters as they are', async () => {
      const odd = ['odd/with space', 'odd/plus+sign', 'odd/percent%20', 'odd/équipe-ünïcode', 'odd/a=b&c', 'odd/tilde~@,;'];
      for (const key of odd) await store.put(key, Buffer.from(key));

      for (const key of odd) expect((await store.get(key)).toString()).toBe(key);
      expect((await store.getRange('odd/with space', 4, 5)).toString()).toBe('with ');
      expect(await store.stat('odd/plus+sign')).toEqual({ key: 'odd/plus+sign', size: 'odd/plus+sign'.length });
      expect((await store.list('odd/')).map((object) => object.key).sort()).toEqual([...odd].sort());
      await store.delete('odd/percent%20');
      expect(await store.stat('odd/percent%20')).toBeNull();
      expect(await store.stat('odd/plus+sign')).not.toBeNull();
    });

    it('refuses keys that would leave the store or name no object', async () => {
      for (const key of ['../outside', 'data/../../outside', 'data//double', '/absolute', '']) {
        await expect(store.put(key, Buffer.from('x'))).rejects.toThrow('invalid object key');
        await expect(store.get(key)).rejects.toThrow('invalid object key');
      }
      expect(await store.list('')).toEqual([]);
    });
  });
}
