import { Logger } from '@nestjs/common';
import { statSync } from 'node:fs';
import { ApiCaller, ApiTokens, ApiTokensError } from './api-tokens';

/**
 * CUSTODIA_API_TOKENS_FILE as the service uses it: read at start (a bad file stops the start),
 * then read again whenever it changes, so adding or revoking a token needs no restart. A file
 * that is removed, emptied or no longer parses accepts no token until it is fixed (logged as an
 * error): an edit may have been meant to revoke a leaked token, so the old set never lingers.
 */
export class ApiTokenFile {
  private readonly logger = new Logger('ApiTokens');
  private checkedAt = 0;

  private constructor(
    private readonly file: string,
    private tokens: ApiTokens,
    private version: string,
    private readonly recheckMs: number,
  ) {}

  /** `recheckMs`: how often a call may look at the file's modification time. */
  static open(file: string, recheckMs = 1_000): ApiTokenFile {
    const version = versionOf(file);
    return new ApiTokenFile(file, ApiTokens.fromFile(file), version ?? '', recheckMs);
  }

  get size(): number {
    return this.tokens.size;
  }

  authenticate(token: string): ApiCaller | null {
    this.reloadIfChanged();
    return this.tokens.authenticate(token);
  }

  private reloadIfChanged(): void {
    const now = Date.now();
    if (now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    const version = versionOf(this.file);
    if (version === this.version) return;
    this.version = version ?? '';
    try {
      this.tokens = ApiTokens.fromFile(this.file);
      this.logger.log(`${this.file} changed: ${this.tokens.size} token(s) in force`);
    } catch (error) {
      if (!(error instanceof ApiTokensError)) throw error;
      // Fail closed: the edit may have been meant to revoke a leaked token.
      this.tokens = ApiTokens.none();
      this.logger.error(`${error.message}; no token is accepted until the file is fixed`);
    }
  }
}

/** What changes when the file is edited or replaced (an editor may write a new inode). */
function versionOf(file: string): string | null {
  try {
    const stat = statSync(file);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return null;
  }
}
