/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testTimeout: 120000,
  // jest's default is cores − 1, one worker on the 2-core machines here: the CLI tests mostly wait on their child
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/summaryReporter.js'],
  globalSetup: '<rootDir>/test/globalSetup.js',
};
