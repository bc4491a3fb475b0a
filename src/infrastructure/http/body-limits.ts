import { BadRequestException, INestApplication } from '@nestjs/common';
import { json } from 'express';

/** Deeper JSON than any request body of this API needs (the deepest DTO is 2 levels). */
export const MAX_JSON_DEPTH = 64;

/** express.json's own default, said out loud: no body of this API comes near it. */
export const MAX_JSON_BODY = '100kb';

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether JSON text nests objects and arrays deeper than `max`, found by one loop over the raw
 * bytes (brackets outside strings), so no recursion can overflow on the way. It does not check
 * that the text is JSON: JSON.parse does that afterwards, on text known to be shallow enough for
 * everything that walks the parsed value recursively (class-transformer, class-validator,
 * JSON.stringify), which is where 2,000 levels used to end in a RangeError and a 500.
 */
export function exceedsJsonDepth(body: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/**
 * body-parser's `verify` hook: it sees the raw body before JSON.parse. The exception it throws
 * reaches the API's error filter unchanged (body-parser keeps its 400 status), so the answer is
 * `{statusCode: 400, code: "PAYLOAD_TOO_DEEP"}` on every endpoint, GraphQL's included.
 */
function rejectDeepJson(_request: unknown, _response: unknown, body: Buffer): void {
  if (exceedsJsonDepth(body, MAX_JSON_DEPTH)) {
    throw new BadRequestException({
      code: 'PAYLOAD_TOO_DEEP',
      message: `the JSON body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`,
    });
  }
}

/**
 * The HTTP settings of the API application, applied before `init()` by whoever creates it
 * (`serve`, and the end-to-end tests' embedded app): the JSON body parser with the depth check.
 * Registering it here keeps Nest from adding its default JSON parser (it adds one only if no
 * middleware named `jsonParser`, which express.json returns, is in place). URL-encoded bodies keep Nest's default parser; no endpoint takes one,
 * and the validation pipe refuses what it makes of them.
 */
export function configureHttpApplication(app: INestApplication): void {
  // Not app.useBodyParser: Nest's typing of it leaves `verify` out (it uses the hook for rawBody,
  // which this service does not turn on).
  app.use(json({ limit: MAX_JSON_BODY, verify: rejectDeepJson }));
}
