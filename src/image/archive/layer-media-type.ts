/**
 * Media types for layer blobs that arrive without one (docker-archive members, `import`
 * tarballs): named after what the bytes are, so push and save know whether to recompress.
 */
import type { Compression } from '../compression.js';
import { MEDIA_TYPE_DOCKER_LAYER, MEDIA_TYPE_OCI_LAYER_ZSTD } from '../media-types.js';

/** Docker's type for an uncompressed layer tar (what `docker load` records for one). */
export const MEDIA_TYPE_DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';

export function layerMediaType(kind: Compression): string {
  switch (kind) {
    case 'gzip':
      return MEDIA_TYPE_DOCKER_LAYER;
    // Schema2 has no zstd type; the OCI one is what registries and containerd use.
    case 'zstd':
      return MEDIA_TYPE_OCI_LAYER_ZSTD;
    case 'none':
      return MEDIA_TYPE_DOCKER_LAYER_TAR;
  }
}
