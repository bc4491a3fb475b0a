import { EngineError } from './errors';

/**
 * File names are bytes. Linux allows any byte in a name but "/" and NUL, and real systems hold
 * names that are not UTF-8 (old archives, other locales) and names with backslashes or
 * newlines. The tree stores a name as a JSON string when its bytes are valid UTF-8 (almost
 * always), and otherwise its exact bytes in `rawName` (base64) beside an escaped `name` meant
 * for people (`\xNN` for each byte that is not UTF-8). Either way the bytes restored are the
 * bytes backed up. The same holds for symlink targets (`rawTarget`).
 */

/** A name or path as the fs calls take it: a string when it is UTF-8, else its bytes. */
export type FileName = string | Buffer;

/** The name fields of a tree entry (and the target fields of a symlink). */
export interface StoredName {
  name: string;
  rawName?: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The stored form of a name read from the file system as bytes. */
export function storedName(bytes: Buffer): StoredName {
  const text = decodeUtf8(bytes);
  return text !== null ? { name: text } : { name: escapeBytes(bytes), rawName: bytes.toString('base64') };
}

/** The exact bytes of a stored name. */
export function nameBytes(stored: StoredName): Buffer {
  return stored.rawName !== undefined ? Buffer.from(stored.rawName, 'base64') : Buffer.from(stored.name, 'utf8');
}

/** The name as the fs calls take it. */
export function fsName(stored: StoredName): FileName {
  return stored.rawName !== undefined ? Buffer.from(stored.rawName, 'base64') : stored.name;
}

/**
 * A key that is equal for two entries exactly when their name bytes are: the name itself, or
 * for bytes that are not UTF-8, NUL (which no real name holds) and the bytes one char each. A
 * raw name is keyed by its decoded bytes, never its base64 text, so two spellings of one name
 * (plain and raw, or two base64 forms of the same bytes) are the same name.
 */
export function nameKey(stored: StoredName): string {
  if (stored.rawName === undefined) return stored.name;
  const bytes = Buffer.from(stored.rawName, 'base64');
  return decodeUtf8(bytes) ?? `\0${bytes.toString('latin1')}`;
}

/**
 * Whether a stored name is in the one form a backup writes: a raw name is canonical base64 of
 * bytes that are not UTF-8 (UTF-8 bytes are stored as a plain name). Any other spelling comes
 * from a crafted or damaged tree.
 */
function isCanonical(stored: StoredName): boolean {
  if (stored.rawName === undefined) return true;
  const bytes = Buffer.from(stored.rawName, 'base64');
  return bytes.toString('base64') === stored.rawName && decodeUtf8(bytes) === null;
}

/** `parent/name`, as a string while both are UTF-8, else as bytes. */
export function joinName(parent: FileName, name: FileName): FileName {
  if (typeof parent === 'string' && typeof name === 'string') return parent.endsWith('/') ? parent + name : `${parent}/${name}`;
  const head = Buffer.from(parent);
  const separator = head.length > 0 && head[head.length - 1] === 0x2f ? [] : [Buffer.from('/')];
  return Buffer.concat([head, ...separator, Buffer.from(name)]);
}

/** A path or name for messages and listings: UTF-8 as it is, other bytes as `\xNN`. */
export function displayName(name: FileName): string {
  if (typeof name === 'string') return name;
  return decodeUtf8(name) ?? escapeBytes(name);
}

/** Whether a name can exist in a Linux directory: not empty, ".", "..", nor holding "/" or NUL. */
export function isLegalName(bytes: Buffer): boolean {
  if (bytes.length === 0 || bytes.includes(0x2f) || bytes.includes(0)) return false;
  return !(bytes.length <= 2 && bytes.every((byte) => byte === 0x2e));
}

/** Refuses a name no real directory can hold: it could only steer a restore outside its target. */
export function assertLegalName(stored: unknown, where: string): void {
  const candidate = stored as Partial<StoredName> | null;
  let bytes: Buffer | null = null;
  try {
    if (
      typeof candidate?.name === 'string' &&
      (candidate.rawName === undefined || typeof candidate.rawName === 'string') &&
      isCanonical(candidate as StoredName)
    ) {
      bytes = nameBytes(candidate as StoredName);
    }
  } catch {
    bytes = null;
  }
  if (bytes === null || !isLegalName(bytes)) {
    throw new EngineError(
      'UNSAFE_PATH',
      `snapshot manifest holds an unsafe name ${JSON.stringify(candidate?.name)}${where}; refusing to restore`,
    );
  }
}

export function decodeUtf8(bytes: Buffer): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/** Valid UTF-8 sequences as they are, every other byte as `\xNN`. */
function escapeBytes(bytes: Buffer): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const length = sequenceLength(bytes[i]);
    const text = length > 0 && i + length <= bytes.length ? decodeUtf8(bytes.subarray(i, i + length)) : null;
    if (text !== null) {
      out += text;
      i += length;
    } else {
      out += `\\x${bytes[i].toString(16).padStart(2, '0')}`;
      i++;
    }
  }
  return out;
}

function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}
