/**
 * `npm run test:valkey`: the specs that prove the module on Valkey as on Redis, run on servers
 * the support code starts as `valkey-server` (LOAD_STATUS_TEST_SERVER=valkey, set by the script):
 * the store contract on every client and topology, the multi-process stampede and crash takeover,
 * the least-privilege ACL and TLS, the Cluster and Sentinel scenarios, and one chaos run on each
 * of standalone, Cluster and Sentinel. The specs are the same files npm test runs on Redis.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testMatch: [
    '<rootDir>/test/stores/store-contract.spec.ts',
    '<rootDir>/test/stores/redis-scripts.spec.ts',
    '<rootDir>/test/stores/redis-scripts-keys.spec.ts',
    '<rootDir>/test/multi-process/stampede.spec.ts',
    '<rootDir>/test/multi-process/holder-crash-takeover.spec.ts',
    '<rootDir>/test/multi-process/chaos.spec.ts',
    '<rootDir>/test/managed/least-privilege.spec.ts',
    '<rootDir>/test/managed/tls.spec.ts',
    '<rootDir>/test/topologies/cluster.spec.ts',
    '<rootDir>/test/topologies/sentinel.spec.ts',
    '<rootDir>/test/topologies/cluster.chaos.ts',
    '<rootDir>/test/topologies/sentinel.chaos.ts',
  ],
};
