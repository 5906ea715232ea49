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
  -- Named and anonymous volumes (local driver). The data is <root>/volumes/<name>/_data;
  -- which containers use a volume is read from the containers' mount points, not stored twice.
  CREATE TABLE volumes (
    name        TEXT PRIMARY KEY,
    driver      TEXT NOT NULL,              -- always 'local' for now
    created_at  TEXT NOT NULL,
    labels      TEXT NOT NULL,              -- JSON object
    options     TEXT NOT NULL               -- JSON object: the local driver's type/device/o
  );
  -- Containers that have a volume with driver options mounted for them (from start to exit):
  -- the device is unmounted when the last one lets go, as Docker's local driver does.
  CREATE TABLE volume_holders (
    volume       TEXT NOT NULL,
    container_id TEXT NOT NULL,
    PRIMARY KEY (volume, container_id)
  );
  `,
  `
  -- Networks (issue 4): hull does its own IPAM; netavark only plumbs the addresses given.
  CREATE TABLE networks (
    id          TEXT PRIMARY KEY,           -- 64 hex
    name        TEXT NOT NULL UNIQUE,
    driver      TEXT NOT NULL,              -- bridge | host | null
    created_at  TEXT NOT NULL,
    subnet      TEXT,                       -- CIDR; null for host/null
    gateway     TEXT,
    ip_range    TEXT,                       -- CIDR inside subnet that addresses come from
    internal    INTEGER NOT NULL DEFAULT 0,
    bridge      TEXT,                       -- host interface name
    labels      TEXT NOT NULL DEFAULT '{}',
    options     TEXT NOT NULL DEFAULT '{}'
  );
  -- A container's membership of a network, with its address: held until the container is
  -- removed or disconnected, so an address is never handed out twice while in use.
  CREATE TABLE endpoints (
    network_id   TEXT NOT NULL REFERENCES networks(id),
    container_id TEXT NOT NULL,
    endpoint_id  TEXT NOT NULL,
    ip           TEXT NOT NULL,
    static_ip    INTEGER NOT NULL DEFAULT 0,
    aliases      TEXT NOT NULL DEFAULT '[]',
    interface    TEXT NOT NULL,             -- eth0, eth1, ... inside the container
    mac          TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, ip)
  );
  CREATE INDEX endpoints_by_container ON endpoints(container_id);
  -- Host ports of running containers; the primary key makes a second claim fail.
  CREATE TABLE port_claims (
    proto          TEXT NOT NULL,
    host_ip        TEXT NOT NULL,           -- '' = every address
    host_port      INTEGER NOT NULL,
    container_id   TEXT NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (proto, host_ip, host_port)
  );
  CREATE INDEX port_claims_by_container ON port_claims(container_id);
  `,
  `
  -- Docker's event stream (GET /events, hull events): written by whichever process acts (CLI,
  -- server, a monitor's exit command), tailed by the API server. Bounded: writers trim the oldest.
  CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    time_nano  INTEGER NOT NULL,            -- Unix nanoseconds
    type       TEXT NOT NULL,               -- container, image, ...
    action     TEXT NOT NULL,               -- create, start, die, pull, ...
    actor_id   TEXT NOT NULL,
    attributes TEXT NOT NULL                -- JSON object of strings
  );
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
  `
  -- hull build's content cache: the sha256 of a context file, trusted while the file's
  -- identity and stat (dev:ino:size:mtime_ns:ctime_ns) are unchanged, so an unchanged
  -- rebuild does not read its COPY sources again.
  CREATE TABLE build_file_digests (
    path   TEXT PRIMARY KEY,
    stat   TEXT NOT NULL,
    digest TEXT NOT NULL
  );
  -- RUN steps attached to a network (they are containers without a container row): their
  -- endpoints are not orphans while the build process lives; a later build releases the
  -- network of a dead build's step.
  CREATE TABLE build_steps (
    container_id TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    network      TEXT NOT NULL,
    pid          INTEGER NOT NULL
  );
  `,
  `
  -- Who plumbed an endpoint's interface at the container's last start, so the same party tears
  -- it down: 'netavark', or 'hull' (network/fast-bridge.ts: a veth on an existing bridge).
  ALTER TABLE endpoints ADD COLUMN plumber TEXT NOT NULL DEFAULT 'netavark';
  `,
];
