import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startApp } from './embedded-app';

describe('job progress', () => {
  it('shows the worker’s progress on a running backup', async () => {
    const source = await fs.mkdtemp(path.join(os.tmpdir(), 'custodia-progress-'));
    const size = 64 * 1024 * 1024;
    for (let i = 0; i < 8; i++) await fs.writeFile(path.join(source, `part-${i}.bin`), randomBytes(size / 8));
    const service = await startApp({ WORKER_HEARTBEAT_INTERVAL_MS: '50' });
    try {
      const { body: registered } = await service.http().post('/sources').send({ name: 'progress', path: source }).expect(201);
      const { body: requested } = await service.http().post('/backups').send({ sourceId: registered.id }).expect(202);
      const seen: { totalBytes: number; bytesDone: number }[] = [];
      for (;;) {
        const { body } = await service.http().get(`/backups/${requested.id}`).expect(200);
        if (body.status === 'running' && body.progress) seen.push(body.progress);
        if (body.status === 'completed') break;
        expect(['requested', 'running']).toContain(body.status);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((progress) => progress.totalBytes === size && progress.bytesDone <= size)).toBe(true);
    } finally {
      await service.close();
      await fs.rm(source, { recursive: true, force: true });
      await fs.rm(service.dataDir, { recursive: true, force: true });
    }
  });
});
