/**
 * `npm run test:unit`: the quick loop, every spec that needs no server, in parallel (under a
 * minute on two cores). A spec needs a server when it imports one of the support modules that
 * start or reach one, or lives where every spec does (child processes, topologies, managed
 * servers, the example app over HTTP); the rest run here, with no global Redis. A spec picked
 * here that still asks for a server fails saying so (LOAD_STATUS_UNIT_RUN, set by the script).
 * npm test runs these too, with everything else.
 * @type {import('jest').Config}
 */
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const base = require('./jest.config.js');

const SERVER_DIRS = /^test\/(multi-process|topologies|managed|e2e)\//;
const NEEDS_SERVER =
  /support\/(suite-redis|redis-server|redis-topologies|redis-clients|tcp-proxy|replica-acks|subscribers)'|\b(redisUrl|inspector)\(|from '(ioredis|redis)'/;

const unitSpecs = readdirSync(join(__dirname, 'test'), { recursive: true })
  .map((file) => `test/${file.split('\\').join('/')}`)
  .filter((file) => file.endsWith('.spec.ts'))
  .filter(
    (spec) =>
      !SERVER_DIRS.test(spec) && !NEEDS_SERVER.test(readFileSync(join(__dirname, spec), 'utf8')),
  )
  .sort();

module.exports = {
  ...base,
  testMatch: unitSpecs.map((spec) => `<rootDir>/${spec}`),
  globalSetup: undefined,
  globalTeardown: undefined,
};
