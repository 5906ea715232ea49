/** Waiting out back-pressure on a writable that may go away meanwhile. */

/** The writable sides this needs: a Node Writable, a tar-stream extract, a socket. */
export interface DrainEmitter {
  once(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
}

/** Resolves at the stream's next 'drain' or at its 'close' (a closed peer never drains), whichever comes first. */
export function drainedOrClosed(stream: DrainEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}
