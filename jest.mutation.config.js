/**
 * The tests Stryker runs against each mutant (npm run test:mutation): the in-process specs.
 * The multi-process specs drive workers in child processes, where a mutant is not switched on,
 * and the package and compatibility specs test the packed tarball, not src/.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testPathIgnorePatterns: [
    '/node_modules/',
    '/test/multi-process/',
    '/test/package/',
    '/test/memory/',
    '/test/e2e/',
  ],
  reporters: ['default'],
};
