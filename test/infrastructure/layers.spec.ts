import { execFile } from 'node:child_process';
import * as path from 'node:path';

/**
 * The layer rules of eslint.config.mjs, shown to fail on planted bad imports: each file below
 * exists only in memory, linted as if it lay at its path, by the same configuration as
 * `npm run lint`. The good imports next to them show that the rules do not catch too much.
 */
const root = path.resolve(__dirname, '../..');
const RULE = '@typescript-eslint/no-restricted-imports';

interface Linted {
  filePath: string;
  messages: { ruleId: string | null; message: string }[];
}

function lint(files: Record<string, string>): Promise<Map<string, string[]>> {
  const input = Object.entries(files).map(([file, code]) => ({ filePath: path.join(root, file), code }));
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [path.join(__dirname, 'layers', 'lint-text.mjs')],
      { cwd: root, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr}`));
        const results = JSON.parse(stdout) as Linted[];
        resolve(
          new Map(
            results.map(({ filePath, messages }) => [
              path.relative(root, filePath),
              messages.filter((message) => message.ruleId === RULE).map((message) => message.message),
            ]),
          ),
        );
      },
    );
    child.stdin?.end(JSON.stringify(input));
  });
}

describe('layer rules (eslint.config.mjs)', () => {
  let results: Map<string, string[]>;

  beforeAll(async () => {
    results = await lint({
      'src/domain/planted-infrastructure.ts':
        "import { openAdapters } from '../infrastructure/adapters';\nexport const planted = openAdapters;\n",
      'src/domain/planted-fs.ts': "import { promises } from 'node:fs';\nexport const planted = promises;\n",
      'src/domain/planted-nest.ts': "import { Injectable } from '@nestjs/common';\nexport const planted = Injectable;\n",
      'src/domain/planted-engine.ts': "export { backup } from '../engine';\n",
      'src/domain/planted-good.ts': "import { DomainError } from './domain-error';\nexport const planted = DomainError;\n",
      'src/engine/backup/planted-nest.ts': "import { Injectable } from '@nestjs/common';\nexport const planted = Injectable;\n",
      'src/engine/planted-application.ts': "import type { Clock } from '../application/ports/clock';\nexport type Planted = Clock;\n",
      'src/engine/storage/planted-good.ts':
        "import { promises } from 'node:fs';\nimport { EngineError } from '../errors';\nexport const planted = [promises, EngineError];\n",
      'src/application/commands/planted-infrastructure.ts':
        "import { InProcessJobBus } from '../../infrastructure/bus/in-process-job-bus';\nexport const planted = InProcessJobBus;\n",
      'src/application/planted-worker.ts': "import { JobWorker } from '../worker/job-worker';\nexport const planted = JobWorker;\n",
      'src/application/planted-engine-internals.ts':
        "import { FsObjectStore } from '../engine/storage/fs-object-store';\nexport const planted = FsObjectStore;\n",
      'src/application/planted-engine-value.ts': "import { backup } from '../engine';\nexport const planted = backup;\n",
      'src/application/planted-engine-type.ts': "import type { BackupResult } from '../engine';\nexport type Planted = BackupResult;\n",
    });
  });

  const errors = (file: string) => {
    const messages = results.get(file);
    if (!messages) throw new Error(`${file} was not linted`);
    return messages;
  };

  it('fails a file in src/domain that imports from src/infrastructure', () => {
    expect(errors('src/domain/planted-infrastructure.ts')).toEqual([expect.stringContaining('src/domain is pure')]);
  });

  it('fails a file in src/domain that imports a Node built-in, Nest or the engine, and passes one of its own imports', () => {
    for (const file of ['src/domain/planted-fs.ts', 'src/domain/planted-nest.ts', 'src/domain/planted-engine.ts']) {
      expect({ file, errors: errors(file) }).toEqual({ file, errors: [expect.stringContaining('src/domain is pure')] });
    }
    expect(errors('src/domain/planted-good.ts')).toEqual([]);
  });

  it('fails a file in src/engine that imports @nestjs/common or the control plane, and passes Node and its own files', () => {
    expect(errors('src/engine/backup/planted-nest.ts')).toEqual([expect.stringContaining('Nest')]);
    expect(errors('src/engine/planted-application.ts')).toEqual([expect.stringContaining('src/engine is a library')]);
    expect(errors('src/engine/storage/planted-good.ts')).toEqual([]);
  });

  it("fails a file in src/application that imports infrastructure, the worker, the engine's internals or runs the engine", () => {
    expect(errors('src/application/commands/planted-infrastructure.ts')).toEqual([expect.stringContaining('not on adapters')]);
    expect(errors('src/application/planted-worker.ts')).toEqual([expect.stringContaining('not on adapters')]);
    expect(errors('src/application/planted-engine-internals.ts')).toEqual([expect.stringContaining("engine's internals")]);
    expect(errors('src/application/planted-engine-value.ts')).toEqual([expect.stringContaining('but not run it')]);
    expect(errors('src/application/planted-engine-type.ts')).toEqual([]);
  });
});
