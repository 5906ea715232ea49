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
    assert.deepEqual(req.HostConfig, { LogConfig: { Type: 'json-file', Config: {} }, Memory: 0, CapAdd: ['NET_ADMIN'], RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } });
  });

  void it('takes a string command as Docker StrSlice does', () => {
    assert.deepEqual(toCreateRequest({ Image: 'a', Cmd: 'sh', Entrypoint: 'x' }).Config, { Image: 'a', Cmd: ['sh'], Entrypoint: ['x'] });
  });

  void it('refuses wrong types and a missing image with 400s', () => {
    for (const body of [{ Image: 'a', Tty: 'yes' }, { Image: 'a', Env: [1] }, { Image: 'a', HostConfig: { Memory: '1g' } }, { Image: 'a', HostConfig: [] }, { Cmd: ['x'] }, { Image: 5 }]) {
      assert.throws(() => toCreateRequest(body), (e) => isHullError(e, 'INVALID_ARGUMENT'), JSON.stringify(body));
    }
  });
});
