import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isRole, Role, ROLES } from '../../application/access-control';

/** An authenticated caller: the actor and role its token was issued to. */
export interface ApiCaller {
  actor: string;
  role: Role;
}

/** The characters an actor name may hold: the same as X-Actor accepts, so audit queries can ask for it. */
export const ACTOR_NAME = /^[\w.:@-]{1,100}$/;

const TOKEN_PREFIX = 'cst_';

/**
 * The API's bearer tokens, read from CUSTODIA_API_TOKENS_FILE. The file holds one line per token,
 * `<actor> <role> sha256:<hex>`, and never a token itself: a leaked file opens nothing. A token
 * is 32 random bytes, so a plain SHA-256 of it (no salt, no stretching) is enough to make the
 * digest useless to whoever reads it; lookups go by digest, so no token is compared byte by byte.
 */
export class ApiTokens {
  private constructor(private readonly byDigest: ReadonlyMap<string, ApiCaller>) {}

  static parse(text: string, origin: string): ApiTokens {
    const byDigest = new Map<string, ApiCaller>();
    text.split('\n').forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const where = `${origin}, line ${index + 1}`;
      const [actor, role, digest, ...rest] = line.split(/\s+/);
      if (rest.length > 0 || digest === undefined) throw new ApiTokensError(`${where}: expected "<actor> <role> sha256:<hex>"`);
      if (!ACTOR_NAME.test(actor)) throw new ApiTokensError(`${where}: the actor may hold letters, digits and . _ : @ - only`);
      if (!isRole(role)) throw new ApiTokensError(`${where}: the role must be one of ${ROLES.join(', ')}`);
      const hex = /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1];
      if (!hex) throw new ApiTokensError(`${where}: the digest must be sha256: and 64 lowercase hex digits`);
      if (byDigest.has(hex)) throw new ApiTokensError(`${where}: this token is listed twice`);
      byDigest.set(hex, { actor, role });
    });
    if (byDigest.size === 0) throw new ApiTokensError(`${origin} lists no token (create one with \`custodia token create\`)`);
    return new ApiTokens(byDigest);
  }

  /** Admits nobody: what a tokens file that became unreadable stands for. */
  static none(): ApiTokens {
    return new ApiTokens(new Map());
  }

  static fromFile(file: string): ApiTokens {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ApiTokensError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return ApiTokens.parse(text, file);
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** The caller a presented token belongs to, or null for an unknown or malformed token. */
  authenticate(token: string): ApiCaller | null {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
    return this.byDigest.get(tokenDigest(token)) ?? null;
  }
}

export class ApiTokensError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiTokensError';
  }
}

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new token and the line that admits it in the tokens file. */
export function newApiToken(actor: string, role: Role): { token: string; line: string } {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, line: `${actor} ${role} sha256:${tokenDigest(token)}` };
}
