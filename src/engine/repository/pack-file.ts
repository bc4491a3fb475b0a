import { createHash, webcrypto } from 'node:crypto';
import { open, seal } from '../crypto/aead';
import { MasterKey } from '../crypto/master-key';
import { AAD, BlobLocation, FORMAT_VERSION, PACK_MAGIC, PACK_TRAILER_BYTES, PackHeader } from './format';

/**
 * A pack: encrypted blobs back to back, then the encrypted header listing them, then a trailer
 * (header length, magic). The pack's name is the SHA-256 of its bytes, so any change to a pack
 * is detectable even without the key. The hash is computed by WebCrypto, which runs it on
 * libuv's thread pool: 16 MiB of SHA-256 per pack no longer holds up the thread that chunks.
 */
export async function assemblePack(
  master: MasterKey,
  blobs: { location: Omit<BlobLocation, 'offset'>; sealed: Buffer }[],
): Promise<{ id: string; bytes: Buffer; locations: BlobLocation[] }> {
  const locations: BlobLocation[] = [];
  let offset = 0;
  for (const blob of blobs) {
    locations.push({ ...blob.location, offset, length: blob.sealed.length });
    offset += blob.sealed.length;
  }
  const header: PackHeader = { version: FORMAT_VERSION, blobs: locations };
  const sealedHeader = seal(master.metadataKey, Buffer.from(JSON.stringify(header)), AAD.packHeader);
  const trailer = Buffer.alloc(PACK_TRAILER_BYTES);
  trailer.writeUInt32LE(sealedHeader.length, 0);
  PACK_MAGIC.copy(trailer, 4);
  const bytes = Buffer.concat([...blobs.map((blob) => blob.sealed), sealedHeader, trailer]);
  const digest = await webcrypto.subtle.digest('SHA-256', bytes);
  return { id: Buffer.from(digest).toString('hex'), bytes, locations };
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export class PackFormatError extends Error {}

/** Length of the sealed header, read from the trailer (the last bytes of the pack). */
export function headerLengthFromTrailer(trailer: Buffer, packSize: number): number {
  if (trailer.length !== PACK_TRAILER_BYTES || !trailer.subarray(4).equals(PACK_MAGIC)) {
    throw new PackFormatError('pack trailer is missing or damaged');
  }
  const headerLength = trailer.readUInt32LE(0);
  if (headerLength + PACK_TRAILER_BYTES > packSize) throw new PackFormatError('pack header length exceeds the pack');
  return headerLength;
}

export function decodePackHeader(master: MasterKey, sealedHeader: Buffer, packSize: number): BlobLocation[] {
  const header = JSON.parse(open(master.metadataKey, sealedHeader, AAD.packHeader).toString('utf8')) as PackHeader;
  const limit = packSize - PACK_TRAILER_BYTES - sealedHeader.length;
  for (const blob of header.blobs) {
    if (blob.offset < 0 || blob.length <= 0 || blob.offset + blob.length > limit) {
      throw new PackFormatError(`blob ${blob.id} lies outside the pack`);
    }
  }
  return header.blobs;
}

/** Parses a whole pack held in memory (used by check --read-data and index rebuild). */
export function readPackHeader(master: MasterKey, bytes: Buffer): BlobLocation[] {
  const trailer = bytes.subarray(bytes.length - PACK_TRAILER_BYTES);
  const headerLength = headerLengthFromTrailer(trailer, bytes.length);
  const start = bytes.length - PACK_TRAILER_BYTES - headerLength;
  return decodePackHeader(master, bytes.subarray(start, start + headerLength), bytes.length);
}
