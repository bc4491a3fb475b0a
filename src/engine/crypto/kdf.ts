import { randomBytes, scrypt } from 'node:crypto';

/** scrypt parameters, stored in each key slot so they can be raised later without a format change. */
export interface KdfParams {
  name: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string; // base64
}

/** 2^17 with r=8 costs 128 MiB and roughly half a second here: the OWASP-recommended floor. */
export const DEFAULT_KDF_COST = { N: 2 ** 17, r: 8, p: 1 };

export function newKdfParams(cost: { N: number; r: number; p: number } = DEFAULT_KDF_COST): KdfParams {
  return { name: 'scrypt', ...cost, salt: randomBytes(32).toString('base64') };
}

export function deriveKey(passphrase: string, params: KdfParams): Promise<Buffer> {
  const maxmem = 128 * params.N * params.r * params.p + 64 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFKC'),
      Buffer.from(params.salt, 'base64'),
      32,
      { N: params.N, r: params.r, p: params.p, maxmem },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}
