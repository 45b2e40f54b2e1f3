/**
 * The tests Stryker runs against each mutant (npm run test:mutation): the in-process specs.
 * The multi-process specs drive workers in child processes, where a mutant is not switched on,
 * and the compatibility matrix tests the packed tarball, not src/.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

// Each mutant run would start a Redis Cluster and a Sentinel group again (~9 s): the store
// contract runs on them only when `npm run test:mutation` started them once for the whole run
// (LOAD_STATUS_MUTATION_TOPOLOGIES); a bare `stryker run` leaves them out. npm test always runs
// the topologies.
process.env.LOAD_STATUS_MUTATION_RUN = '1';

// LOAD_STATUS_MUTATION_SPECS=a.spec.ts,b.spec.ts runs only those specs against each mutant: a
// quick lower bound on the file's score (fewer tests can only kill fewer mutants), for a file
// whose every mutant the whole suite covers (a command deadline: every Redis spec, ~100 s each).
const focus = process.env.LOAD_STATUS_MUTATION_SPECS;

module.exports = {
  ...base,
  ...(focus ? { testMatch: focus.split(',').map((spec) => `<rootDir>/${spec.trim()}`) } : {}),
  testPathIgnorePatterns: [
    '/test/managed/tls.spec.ts',
    '/node_modules/',
    '/test/multi-process/',
    '/test/topologies/',
    '/test/memory/',
    '/test/e2e/',
  ],
  reporters: ['default'],
};
