/**
 * `hull serve` driven by testcontainers (npm, unchanged): it probes the server (/_ping, /info,
 * /version), pulls the image from a local registry, creates the container with its labels and
 * an exposed port, waits for a log line (logs follow), reads the mapped port from inspect,
 * execs, and stops and removes the container. The test talks to the container's port over
 * 127.0.0.1.
 *
 * testcontainers reads its settings from the environment, once per process (this test file
 * runs in its own process): DOCKER_HOST points at the server; the reaper (Ryuk) is disabled,
 * its image comes from Docker Hub; TESTCONTAINERS_HOST_OVERRIDE keeps it from looking for a
 * gateway address (this host is itself a container, /.dockerenv exists, where testcontainers
 * would otherwise inspect the `bridge` network or run alpine from Docker Hub to find one).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startApiServer, type ApiServer } from '../helpers/api-server.js';
import { containerTestSkip } from '../helpers/hull.js';
import { buildOciLayout, busyboxImage, pushWithSkopeo } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { httpGet } from '../helpers/net.js';

const skip = containerTestSkip(['runc', 'skopeo', 'docker-registry']);

let server: ApiServer;
let registry: TestRegistry;
let work: string;
let image: string;

describe('hull serve with testcontainers', { skip, timeout: 600_000 }, () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hull-api-testcontainers-'));
    server = await startApiServer();
    registry = await startRegistry();
    const layout = join(work, 'busybox');
    await buildOciLayout(layout, busyboxImage({ refName: 'latest' }));
    image = `${registry.host}/tc/busybox:latest`;
    await pushWithSkopeo(layout, image);
    Object.assign(process.env, {
      DOCKER_HOST: server.host,
      DOCKER_CONFIG: server.dockerConfig,
      TESTCONTAINERS_RYUK_DISABLED: 'true',
      TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1',
    });
  });

  after(async () => {
    await server?.stop();
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('start from a registry image, wait for a log line, reach the mapped port, exec, stop', async () => {
    // Imported here, after the environment is set: testcontainers reads it on first use.
    const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
    // busybox httpd (without -f) returns once its socket listens: the log line means "ready".
    const script = 'mkdir /www && echo hello-from-hull > /www/index.html && httpd -p 8080 -h /www && echo "httpd is up" && exec sleep 600';
    const started = await new GenericContainer(image)
      .withCommand(['sh', '-c', script])
      .withExposedPorts(8080)
      .withLabels({ 'hull.test': 'testcontainers' })
      .withWaitStrategy(Wait.forLogMessage('httpd is up'))
      .withStartupTimeout(120_000)
      .start();
    const id = started.getId();
    try {
      assert.equal(started.getHost(), '127.0.0.1');
      const port = started.getMappedPort(8080);
      assert.ok(port > 0 && port !== 8080, `mapped port ${port}`);
      const res = await httpGet(port, '/index.html', 10_000);
      assert.equal(res.status, 200);
      assert.equal(res.body, 'hello-from-hull\n');

      const ex = await started.exec(['cat', '/www/index.html']);
      assert.equal(ex.exitCode, 0);
      assert.equal(ex.output, 'hello-from-hull\n');

      const labels = started.getLabels();
      assert.equal(labels['hull.test'], 'testcontainers');
      assert.equal(labels['org.testcontainers'], 'true', 'testcontainers labels its containers');
    } finally {
      await started.stop();
    }
    // stop() removes the container (and its anonymous volumes) by default.
    const client = await getContainerRuntimeClient();
    const left = await client.container.list();
    assert.equal(left.find((c) => c.Id === id), undefined, 'the container is gone');
    assert.equal(client.info.containerRuntime.host, '127.0.0.1');
  });
});
