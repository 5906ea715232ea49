/**
 * The one place that knows table layouts. Migrations are append-only: each entry runs once,
 * inside a transaction, and `user_version` records how far the database has come.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE images (
    id          TEXT PRIMARY KEY,          -- sha256:<config digest>
    config      TEXT NOT NULL,             -- the image config JSON, verbatim
    manifest_digest TEXT,                  -- manifest this image was pulled/loaded as (may be null for imports)
    manifest_media_type TEXT,
    size        INTEGER NOT NULL,          -- unpacked size of all layers, bytes
    created_at  TEXT NOT NULL,             -- when hull stored it (ISO 8601)
    parent      TEXT                       -- local parent image id (commit/build), Docker's "Parent"
  );
  CREATE TABLE image_tags (
    name     TEXT PRIMARY KEY,             -- canonical docker.io/library/busybox:latest
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
  );
  CREATE INDEX image_tags_by_image ON image_tags(image_id);
  CREATE TABLE image_digests (
    repository TEXT NOT NULL,              -- canonical docker.io/library/busybox
    digest     TEXT NOT NULL,              -- manifest digest in that repository
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (repository, digest)
  );
  CREATE INDEX image_digests_by_image ON image_digests(image_id);
  CREATE TABLE layers (
    diff_id    TEXT PRIMARY KEY,           -- digest of the uncompressed tar
    size       INTEGER NOT NULL            -- bytes of the unpacked tree (tar stream length)
  );
  CREATE TABLE layer_blobs (
    blob_digest TEXT PRIMARY KEY,          -- digest as stored in the registry (compressed or not)
    diff_id     TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        INTEGER NOT NULL
  );
  CREATE INDEX layer_blobs_by_diff ON layer_blobs(diff_id);
  `,
  `
  -- Leases keep digests (layer diff ids, blobs) alive while an operation that will record an
  -- image using them is still running (pull, load, import): garbage collection skips them.
  -- A lease whose process is gone is void.
  CREATE TABLE leases (
    lease_id TEXT NOT NULL,
    pid      INTEGER NOT NULL,
    digest   TEXT NOT NULL,
    PRIMARY KEY (lease_id, digest)
  );
  `,
  `
  CREATE TABLE containers (
    id          TEXT PRIMARY KEY,           -- 64 hex
    name        TEXT NOT NULL UNIQUE,       -- without Docker's leading '/'
    image_id    TEXT NOT NULL,              -- rmi refuses while a container uses it
    created_at  TEXT NOT NULL,
    config      TEXT NOT NULL,              -- Docker's Config + HostConfig + hull's own settings (JSON)
    state       TEXT NOT NULL               -- Docker's State plus monitor bookkeeping (JSON)
  );
  CREATE INDEX containers_by_image ON containers(image_id);
  `,
  `
  -- Build cache (hull build): a step's cache key (parent key, instruction after substitution,
  -- build args in scope, content digest of COPY/ADD inputs) -> the image config after the step.
  -- The layers it names are checked on use: one removed with an image makes the entry a miss.
  CREATE TABLE build_cache (
    key        TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  `,
];
