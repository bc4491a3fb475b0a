/**
 * Jest runs TypeScript through @swc/jest. Nest 12's packages (and a few of their dependencies)
 * are ES modules only, which Jest on Node 20 cannot require: they are transformed too.
 * @type {import('jest').Config}
 */
const esmOnly = [
  '@nestjs',
  'file-type',
  'strtok3',
  'token-types',
  '@tokenizer',
  'uint8array-extras',
  '@borewit',
  'chokidar',
  'readdirp',
  'quick-lru',
  'content-disposition',
  'cookie',
];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/integration/', '<rootDir>/test/faults/'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest'] },
  transformIgnorePatterns: [`^(?!.*/node_modules/(${esmOnly.join('|')})/).*/node_modules/`],
  testTimeout: 60000,
  // A fresh worker process per test file: native modules (better-sqlite3, zstd) keep state across
  // jest's per-file module registries, which made one file's tests depend on another's.
  workerIdleMemoryLimit: 1,
  maxWorkers: 2,
};
