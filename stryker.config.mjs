// @ts-check
/**
 * Mutation testing of src/ (npm run test:mutation). Incremental: a rerun tests only mutants whose
 * code or covering tests changed (reports/stryker-incremental.json). Not run in CI; the summary of
 * the last full run is committed in test/MUTATION.md.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'jest',
  jest: {
    projectType: 'custom',
    configFile: 'jest.mutation.config.js',
    enableFindRelatedTests: false,
  },
  mutate: ['src/**/*.ts', '!src/index.ts'],
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  concurrency: 2,
  // A mutant that makes a wait never end is a timeout (counted as killed) soon after the normal
  // run time of its tests.
  timeoutMS: 3_000,
  timeoutFactor: 1.5,
  // Module-level constants would each need the whole suite (half the run time): not mutated.
  ignoreStatic: true,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['dist', 'coverage', 'reports', 'bench/results', '.jest-cache'],
};
