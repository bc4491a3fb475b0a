import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { sql } from 'kysely';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Configuration } from '../config/configuration';
import { CONFIGURATION } from '../configuration.token';
import { EventStore } from '../../application/ports/event-store';
import { ReadModel } from '../../application/projections/read-model';
import { Leadership } from '../../application/ports/leadership';
import { EVENT_STORE, LEADERSHIP, READ_MODEL } from '../../application/tokens';
import { Public } from './access.guard';

type Check = 'ok' | 'unreachable' | 'full';

/** How long a health probe waits for a store before calling it unreachable. */
const PROBE_TIMEOUT_MS = 3_000;

/**
 * GET /health for load balancers and orchestrators: 200 when the event store and the read model
 * answer and the service's folders have room (DATA_DIR, where the embedded stores live, and a
 * folder repository), 503 naming what does not ('unreachable', 'full'), and whether this process
 * leads the control plane or stands by (both answer the API). Open without a token, and it says
 * nothing but that.
 */
@Controller('health')
export class HealthController {
  constructor(
    @Inject(EVENT_STORE) private readonly events: EventStore,
    @Inject(READ_MODEL) private readonly db: ReadModel,
    @Inject(LEADERSHIP) private readonly leadership: Leadership,
    @Inject(CONFIGURATION) private readonly config: Configuration,
  ) {}

  @Public()
  @Get()
  async health(@Res() response: Response): Promise<void> {
    const minFree = this.config.healthMinFreeBytes;
    const [eventStore, readModel, dataDir, repository] = await Promise.all([
      // A stream that never exists: every adapter answers [] after a round trip to its server.
      probe(() => this.events.readStream('custodia-health-probe')),
      probe(() => sql`SELECT 1`.execute(this.db)),
      room(this.config.dataDir, minFree),
      // A folder repository is this process's to check when it runs the worker itself.
      this.config.storage === 'fs' && this.config.workerInProcess
        ? room(this.config.repositoryLocation, minFree)
        : Promise.resolve(undefined),
    ]);
    const checks = { eventStore, readModel, dataDir, ...(repository !== undefined && { repository }) };
    const ok = Object.values(checks).every((check) => check === 'ok');
    response
      .status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE)
      .json({ status: ok ? 'ok' : 'unavailable', checks, leadership: this.leadership.status() });
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

/**
 * 'full' when the file system holding `folder` has less than `minFree` bytes left for the
 * service. A folder not created yet (the repository before its first backup) is measured by the
 * nearest folder above it that exists: that is the file system it will be written to.
 */
async function room(folder: string, minFree: number): Promise<Check> {
  for (let current = path.resolve(folder); ; current = path.dirname(current)) {
    try {
      const space = await fs.statfs(current);
      return space.bavail * space.bsize < minFree ? 'full' : 'ok';
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT' || path.dirname(current) === current) return 'unreachable';
    }
  }
}
