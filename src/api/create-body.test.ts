import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHullError } from '../util/errors.js';
import { toCreateRequest } from './create-body.js';

void describe('create body', () => {
  void it('reads what the docker CLI sends: zeros and nulls mean defaults, unknown fields are ignored', () => {
    const req = toCreateRequest({
      Image: 'busybox',
      Cmd: ['true'],
      Entrypoint: null,
      Tty: false,
      NetworkingConfig: { EndpointsConfig: {} },
      Unknown: 1,
      HostConfig: { ShmSize: 0, NetworkMode: '', LogConfig: { Type: '', Config: null }, Memory: 0, PidsLimit: null, Mounts: [], CapAdd: ['NET_ADMIN'], RestartPolicy: { Name: 'no' }, Whatever: 'x' },
    });
    assert.deepEqual(req.Config, { Image: 'busybox', Cmd: ['true'], Tty: false });
    assert.deepEqual(req.HostConfig, { LogConfig: { Type: 'json-file', Config: {} }, Memory: 0, Mounts: [], CapAdd: ['NET_ADMIN'], RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } });
  });

  void it('takes ports, mounts and the networking config (static IP, aliases) the CLI path takes', () => {
    const req = toCreateRequest({
      Image: 'busybox',
      HostConfig: {
        PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
        PublishAllPorts: false,
        Mounts: [{ Type: 'volume', Source: 'v', Target: '/data' }],
        Binds: ['/a:/b:ro'],
        VolumesFrom: ['other'],
      },
      NetworkingConfig: { EndpointsConfig: { app: { IPAMConfig: { IPv4Address: '10.1.0.5' }, Aliases: ['db'], MacAddress: '' }, other: null } },
    });
    assert.deepEqual(req.HostConfig, {
      PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
      PublishAllPorts: false,
      Mounts: [{ Type: 'volume', Source: 'v', Target: '/data' }],
      Binds: ['/a:/b:ro'],
      VolumesFrom: ['other'],
    });
    assert.deepEqual(req.NetworkingConfig, { EndpointsConfig: { app: { IPAMConfig: { IPv4Address: '10.1.0.5' } , Aliases: ['db'] }, other: {} } });
  });

  void it('completes port bindings as Docker reads them: no HostIp is every address, HostPort "0" a free port', () => {
    const req = toCreateRequest({ Image: 'a', HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: '0' }], '53/udp': [{ HostIp: '127.0.0.1' }], '9/tcp': null } } });
    assert.deepEqual(req.HostConfig?.PortBindings, { '8080/tcp': [{ HostIp: '', HostPort: '' }], '53/udp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
    for (const pb of [{ '80/tcp': 'x' }, { '80/tcp': ['x'] }, { '80/tcp': [{ HostPort: 80 }] }, { '80/tcp': [{ HostIp: 1 }] }]) {
      assert.throws(() => toCreateRequest({ Image: 'a', HostConfig: { PortBindings: pb } }), (e) => isHullError(e, 'INVALID_ARGUMENT'), JSON.stringify(pb));
    }
  });

  void it('takes a string command as Docker StrSlice does', () => {
    assert.deepEqual(toCreateRequest({ Image: 'a', Cmd: 'sh', Entrypoint: 'x' }).Config, { Image: 'a', Cmd: ['sh'], Entrypoint: ['x'] });
  });

  void it('refuses wrong types and a missing image with 400s', () => {
    for (const body of [{ Image: 'a', Tty: 'yes' }, { Image: 'a', Env: [1] }, { Image: 'a', HostConfig: { Memory: '1g' } }, { Image: 'a', HostConfig: [] }, { Cmd: ['x'] }, { Image: 5 },
      { Image: 'a', HostConfig: { PortBindings: [] } }, { Image: 'a', HostConfig: { Mounts: {} } }, { Image: 'a', HostConfig: { Mounts: ['x'] } }, { Image: 'a', HostConfig: { Mounts: [{ Target: 5 }] } },
      { Image: 'a', NetworkingConfig: [] }, { Image: 'a', NetworkingConfig: { EndpointsConfig: { n: { Aliases: 'x' } } } }, { Image: 'a', NetworkingConfig: { EndpointsConfig: { n: { IPAMConfig: { IPv4Address: 1 } } } } }]) {
      assert.throws(() => toCreateRequest(body), (e) => isHullError(e, 'INVALID_ARGUMENT'), JSON.stringify(body));
    }
  });
});
