/**
 * Integration tests: against real services (PostgreSQL, ...), run by `npm run test:integration`.
 * Same transform as jest.config.js; one worker, since the tests share those services.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  testEnvironment: base.testEnvironment,
  roots: ['<rootDir>/test/integration'],
  testMatch: ['**/*.spec.ts'],
  transform: base.transform,
  transformIgnorePatterns: base.transformIgnorePatterns,
  testTimeout: 120000,
  maxWorkers: 1,
};
