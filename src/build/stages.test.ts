import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDockerfile } from './dockerfile.js';
import { planStages } from './stages.js';

const DF = parseDockerfile(
  [
    'ARG BASE=busybox',
    'ARG TAG',
    'FROM ${BASE}:${TAG:-latest} AS deps',
    'FROM deps AS build',
    'RUN make',
    'FROM alpine AS docs',
    'RUN make docs',
    'FROM scratch AS final',
    'COPY --from=build /out /out',
    'COPY --from=0 /etc/passwd /etc/passwd',
    '',
  ].join('\n'),
);

test('only the stages the target needs, in file order; meta args expand FROM', () => {
  const plan = planStages(DF, new Map([['BASE', 'busybox']]));
  assert.equal(plan.target.name, 'final');
  assert.deepEqual(plan.needed.map((s) => s.name), ['deps', 'build', 'final']);
  assert.equal(plan.stages[0]!.base, 'busybox:latest');
  assert.equal(plan.metaArgs.length, 2);
  assert.deepEqual(planStages(DF, new Map(), 'DOCS').needed.map((s) => s.name), ['docs']);
  assert.deepEqual(planStages(DF, new Map(), 'build').needed.map((s) => s.name), ['deps', 'build']);
});

test('errors: unknown target, duplicate names, instructions before FROM, future stage index', () => {
  assert.throws(() => planStages(DF, new Map(), 'nope'), /failed to reach build target nope/);
  assert.throws(() => planStages(parseDockerfile('FROM a AS x\nFROM b AS X\n'), new Map()), /line 2: duplicate name X/);
  assert.throws(() => planStages(parseDockerfile('ENV A=1\nFROM a\n'), new Map()), /line 1: no build stage in current context/);
  assert.throws(() => planStages(parseDockerfile('FROM a AS one\nCOPY --from=1 /x /y\nFROM b\n'), new Map(), 'one'), /refers to current or future build stage/);
});
