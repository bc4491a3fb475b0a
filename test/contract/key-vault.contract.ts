import { randomBytes } from 'node:crypto';
import { KeyVault } from '../../src/engine';

/**
 * What every KeyVault adapter must do, written against the port alone: the embedded vault
 * (keys in the repository) passes it, and so must a database-backed one added later. The
 * factory gives a vault per test; pseudonyms are random, so the vault need not be empty.
 */
export function keyVaultContract(name: string, factory: () => Promise<KeyVault>): void {
  describe(`${name}: key vault contract`, () => {
    let vault: KeyVault;
    const pseudonym = () => randomBytes(32).toString('hex');

    beforeEach(async () => {
      vault = await factory();
    });

    it('creates a 32-byte key once, and hands out the same key afterwards', async () => {
      const subject = pseudonym();
      expect(await vault.status(subject)).toBe('unknown');
      expect(await vault.get(subject)).toBeNull();
      const created = await vault.getOrCreate(subject);
      expect(created.key).toHaveLength(32);
      expect(created.pseudonym).toBe(subject);
      expect(created.keyId).toMatch(/^[0-9a-f]{32}$/);
      const again = await vault.getOrCreate(subject);
      expect(again.keyId).toBe(created.keyId);
      expect(again.key.equals(created.key)).toBe(true);
      expect((await vault.get(subject))?.key.equals(created.key)).toBe(true);
      expect((await vault.get(subject, created.keyId))?.key.equals(created.key)).toBe(true);
      expect(await vault.status(subject)).toBe('active');
      expect(await vault.status(subject, created.keyId)).toBe('active');
    });

    it('gives every subject its own key', async () => {
      const [a, b] = [await vault.getOrCreate(pseudonym()), await vault.getOrCreate(pseudonym())];
      expect(a.key.equals(b.key)).toBe(false);
      expect(a.keyId).not.toBe(b.keyId);
    });

    it('shreds irreversibly, tells shredded from unknown, and a second shred is a no-op', async () => {
      const subject = pseudonym();
      const { keyId } = await vault.getOrCreate(subject);
      expect(await vault.shred(subject)).toEqual({ keysShredded: 1, status: 'shredded' });
      expect(await vault.get(subject)).toBeNull();
      expect(await vault.get(subject, keyId)).toBeNull();
      expect(await vault.status(subject)).toBe('shredded');
      expect(await vault.status(subject, keyId)).toBe('shredded');
      expect(await vault.status(subject, randomBytes(16).toString('hex'))).toBe('unknown');
      expect(await vault.shred(subject)).toEqual({ keysShredded: 0, status: 'shredded' });
      expect(await vault.status(subject)).toBe('shredded');
    });

    it('shredding a subject it never saw changes nothing', async () => {
      const subject = pseudonym();
      expect(await vault.shred(subject)).toEqual({ keysShredded: 0, status: 'unknown' });
      expect(await vault.status(subject)).toBe('unknown');
    });

    it('a shredded subject seen again gets a new key; the old one stays shredded', async () => {
      const subject = pseudonym();
      const old = await vault.getOrCreate(subject);
      await vault.shred(subject);
      const renewed = await vault.getOrCreate(subject);
      expect(renewed.keyId).not.toBe(old.keyId);
      expect(renewed.key.equals(old.key)).toBe(false);
      expect(await vault.status(subject)).toBe('active');
      expect(await vault.status(subject, old.keyId)).toBe('shredded');
      expect(await vault.get(subject, old.keyId)).toBeNull();
      const listed = (await vault.list()).filter((key) => key.pseudonym === subject);
      expect(listed.map(({ keyId, status }) => ({ keyId, status }))).toEqual(
        [
          { keyId: old.keyId, status: 'shredded' },
          { keyId: renewed.keyId, status: 'active' },
        ].sort((a, b) => a.keyId.localeCompare(b.keyId)),
      );
      expect(listed.find((key) => key.keyId === old.keyId)?.shreddedAt).toEqual(expect.any(String));
    });

    it('refuses a pseudonym that is not safe in object keys', async () => {
      await expect(vault.getOrCreate('../alice')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(vault.shred('alice@example.com')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });
  });
}
