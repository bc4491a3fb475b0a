import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { sql } from 'kysely';
import { EventStore } from '../../application/ports/event-store';
import { ReadModel } from '../../application/projections/read-model';
import { Leadership } from '../../application/ports/leadership';
import { EVENT_STORE, LEADERSHIP, READ_MODEL } from '../../application/tokens';
import { Public } from './access.guard';

type Check = 'ok' | 'unreachable';

/** How long a health probe waits for a store before calling it unreachable. */
const PROBE_TIMEOUT_MS = 3_000;

/**
 * GET /health for load balancers and orchestrators: 200 when the event store and the read model
 * answer, 503 naming the one that does not, and whether this process leads the control plane or
 * stands by (both answer the API). Open without a token, and it says nothing but that.
 */
@Controller('health')
export class HealthController {
  constructor(
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(READ_MODEL) private readonly db: ReadModel,
    @Inject(LEADERSHIP) private readonly leadership: Leadership,
  ) {}

  @Public()
  @Get()
  async health(@Res() response: Response): Promise<void> {
    const [eventStore, readModel] = await Promise.all([
      // A stream that never exists: every adapter answers [] after a round trip to its server.
      probe(() => this.events.readStream('custodia-health-probe')),
      probe(() => sql`SELECT 1`.execute(this.db)),
    ]);
    const ok = eventStore === 'ok' && readModel === 'ok';
    response
      .status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE)
      .json({ status: ok ? 'ok' : 'unavailable', checks: { eventStore, readModel }, leadership: this.leadership.status() });
  }
}

async function probe(call: () => Promise<unknown>): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Check>((resolve) => (timer = setTimeout(() => resolve('unreachable'), PROBE_TIMEOUT_MS)));
  try {
    return await Promise.race([call().then((): Check => 'ok'), timeout]);
  } catch {
    return 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}
