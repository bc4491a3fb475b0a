import { Worker } from 'node:worker_threads';

// Jest compiles TypeScript only inside its own module registry; a worker thread starts a plain
// Node, so it installs the same compiler (swc) as a require hook before loading the entry file.
const BOOTSTRAP = `
const { readFileSync } = require('node:fs');
const { workerData } = require('node:worker_threads');
const { transformSync } = require(workerData.swc);
require.extensions['.ts'] = (module, filename) => {
  const options = { filename, swcrc: false, jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } };
  module._compile(transformSync(readFileSync(filename, 'utf8'), options).code, filename);
};
require(workerData.entry);
`;

/** Runs a TypeScript worker file and resolves with the first message it posts. */
export function runTypeScriptWorker<Result>(entry: string, data: unknown): Promise<Result> {
  const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { ...(data as object), entry, swc: require.resolve('@swc/core') } });
  return new Promise<Result>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker ${entry} exited with code ${code} before reporting`)));
  });
}
