/**
 * The fault campaign (`npm run test:faults`): a fixed, seeded matrix of faults against the real
 * service processes, printing a table of trials / lost / duplicated / stuck / corrupted per row.
 * Same transform as jest.config.js; one worker, since each trial runs its own processes.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  testEnvironment: base.testEnvironment,
  roots: ['<rootDir>/test/faults'],
  testMatch: ['**/*.spec.ts'],
  transform: base.transform,
  transformIgnorePatterns: base.transformIgnorePatterns,
  testTimeout: 600000,
  maxWorkers: 1,
};
