/**
 * `engines` in package.json says exactly what the project proves: the Node.js majors the
 * compatibility matrix runs its Node rows on (test/support/node-versions.ts), each from the
 * version it runs there (the oldest it admits). A Node added to the matrix, or an `engines`
 * widened without a row, fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { NODE_VERSIONS } from '../support/node-versions';

const { engines } = JSON.parse(
  readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'),
) as {
  engines: { node: string };
};
const tested = Object.values(NODE_VERSIONS);

it('admits every Node.js version the matrix runs on', () => {
  expect(tested.filter((v) => !semver.satisfies(v, engines.node))).toEqual([]);
});

it('admits no Node.js major the matrix does not run on', () => {
  const majors = new Set(tested.map((v) => semver.major(v)));
  const admitted = [];
  for (let major = 16; major <= 30; major++)
    if (semver.intersects(engines.node, `^${major}.0.0`)) admitted.push(major);
  expect(admitted).toEqual([...majors].sort((a, b) => a - b));
});

it('starts each major at the version the matrix runs on', () => {
  const floors = engines.node.split('||').map((range) => semver.minVersion(range)?.version);
  expect(floors).toEqual(tested);
});
