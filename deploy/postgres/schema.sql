-- =============================================================================
-- OrleansMigrate: PostgreSQL schema for the Orleans 10.4.2 ADO.NET providers
-- (Invariant = "Npgsql"):
--   Microsoft.Orleans.Clustering.AdoNet   membership + gateway list
--   Microsoft.Orleans.Persistence.AdoNet  grain state
--   Microsoft.Orleans.Reminders.AdoNet    reminders
--
-- Written for this project from the providers' contract (query keys, bound
-- parameter names, result columns as the 10.4.2 assemblies use them). It is
-- idempotent: tables/indexes use IF NOT EXISTS and the query rows are upserted,
-- so re-applying it (deploy/postgres/create-db.sh does) updates query texts in
-- place and never drops data. Apply as the role the application connects with
-- (create-db.sh does SET ROLE), inside one transaction (psql -1).
--
-- Contract notes that shaped this file:
--  * The providers run `SELECT QueryKey, QueryText FROM OrleansQuery` with the
--    identifiers UNQUOTED, which PostgreSQL folds to lower case. Hence the table
--    is orleansquery(querykey, querytext), created unquoted. All our other
--    identifiers are unquoted lower-case snake_case too.
--  * Result columns are looked up BY NAME (e.g. "Version", "PayloadBinary",
--    "NewGrainStateVersion"); every query aliases its columns with the exact,
--    quoted Orleans spelling so the lookup is exact, not case-insensitive luck.
--  * Parameters are bound by name (@Name). Queries reference ONLY parameters
--    that 10.4.2 actually binds (an unbound @Name reaches the server verbatim
--    and fails). Types as bound by the providers: ints are int4 (hashes are
--    uint reinterpreted as signed int4, grain key parts are int8), strings text,
--    payload bytea, times are DateTime bound as DbType.DateTime which Npgsql
--    sends as timestamptz and which must be Kind=Utc -> columns are timestamptz.
--  * Each read/modify query returns exactly the row shape the provider expects
--    (single boolean, single version, ...); conflicts are signalled in-band,
--    never by raising an error. Each query is ONE statement (CTEs), so it is
--    atomic without relying on batching or explicit transactions.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Query registry read by all three providers at start-up.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS orleansquery
(
    querykey  varchar(64) NOT NULL PRIMARY KEY,
    querytext text        NOT NULL
);

-- -----------------------------------------------------------------------------
-- Clustering (membership)
--
-- One version row per cluster (Orleans "DeploymentId" = ClusterOptions.ClusterId).
-- Its "version" is the membership table's etag: every InsertRow/UpdateRow must
-- present the version it last read and bumps it by one atomically with the row
-- change; a stale version makes the write return false (Orleans then re-reads).
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS orleans_membership_version
(
    deployment_id text        NOT NULL PRIMARY KEY,
    version       integer     NOT NULL DEFAULT 0,   -- read back with Convert.ToInt32
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per silo incarnation; a restarted silo has a new generation -> new row.
CREATE TABLE IF NOT EXISTS orleans_membership
(
    deployment_id   text        NOT NULL
                    REFERENCES orleans_membership_version (deployment_id) ON DELETE CASCADE,
    address         text        NOT NULL,           -- IP as text (IPv4 or IPv6)
    port            integer     NOT NULL,           -- silo-to-silo port
    generation      integer     NOT NULL,
    silo_name       text        NOT NULL,           -- read back as non-null string
    host_name       text        NOT NULL,
    status          integer     NOT NULL,           -- SiloStatus: 3 = Active, 6 = Dead
    proxy_port      integer     NOT NULL DEFAULT 0, -- gateway port, 0 = not a gateway
    suspect_times   text        NULL,               -- "silo,date|silo,date" as Orleans formats it
    start_time      timestamptz NOT NULL,
    i_am_alive_time timestamptz NOT NULL,
    PRIMARY KEY (deployment_id, address, port, generation)
);

-- -----------------------------------------------------------------------------
-- Grain state
--
-- A grain state is identified by (service_id, grain_type, grain_id_n0,
-- grain_id_n1, grain_id_extension); the two int4 hashes are only for indexing.
-- "version" is the grain's etag: NULL etag from Orleans means "I saw no row".
-- The unique index (NULL extension counts as a value; md5 keeps long type/key
-- strings within btree limits) guarantees that of two racing first writes only
-- one inserts; the loser gets NULL back -> InconsistentStateException.
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS orleans_storage
(
    grain_id_hash      integer     NOT NULL,
    grain_id_n0        bigint      NOT NULL,
    grain_id_n1        bigint      NOT NULL,
    grain_type_hash    integer     NOT NULL,
    grain_type         text        NOT NULL,
    grain_id_extension text        NULL,     -- key extension, or the whole key of string-keyed grains
    service_id         text        NOT NULL,
    payload_binary     bytea       NULL,     -- NULL after ClearState (row and version kept)
    version            integer     NOT NULL, -- etag; Orleans parses it as int32
    modified_on        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_orleans_storage_grain
    ON orleans_storage (grain_id_hash, grain_type_hash, grain_id_n0, grain_id_n1,
                        md5(service_id), md5(grain_type),
                        (grain_id_extension IS NULL), md5(coalesce(grain_id_extension, '')));

-- -----------------------------------------------------------------------------
-- Reminders
--
-- grain_hash is GrainId.GetUniformHashCode() (uint) stored as signed int4; the
-- provider passes range bounds the same way and picks the wrap-around query
-- itself (see ReadRangeRows2Key). period is milliseconds (bound as int4 or int8).
-- version is the reminder's etag (0 on insert, +1 per upsert).
-- -----------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS orleans_reminders
(
    service_id    text        NOT NULL,
    grain_id      text        NOT NULL,   -- GrainId.ToString(), parsed back with GrainId.Parse
    reminder_name text        NOT NULL,
    start_time    timestamptz NOT NULL,
    period        bigint      NOT NULL,
    grain_hash    integer     NOT NULL,
    version       integer     NOT NULL,
    PRIMARY KEY (service_id, grain_id, reminder_name)
);
CREATE INDEX IF NOT EXISTS ix_orleans_reminders_service_hash
    ON orleans_reminders (service_id, grain_hash);

-- =============================================================================
-- Queries. Upserted so that re-applying this file refreshes them.
-- =============================================================================
INSERT INTO orleansquery (querykey, querytext) VALUES

-- ---------------------------------------------------------------- clustering --
-- Create the cluster's version row if missing. Returns one boolean: inserted?
('InsertMembershipVersionKey', $q$
WITH ins AS (
    INSERT INTO orleans_membership_version (deployment_id, version, updated_at)
    VALUES (@DeploymentId, 0, now())
    ON CONFLICT (deployment_id) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM ins) AS "Inserted";
$q$),

-- Insert a silo row iff the table version still equals @Version and the row does
-- not exist; bump the version in the same statement. Returns one boolean.
-- The version row is locked first (UPDATE), which serializes concurrent writers;
-- a writer that waited re-checks "version = @Version" and loses cleanly.
('InsertMembershipKey', $q$
WITH bump AS (
    UPDATE orleans_membership_version v
       SET version = v.version + 1, updated_at = now()
     WHERE v.deployment_id = @DeploymentId
       AND v.version = @Version
       AND NOT EXISTS (SELECT 1 FROM orleans_membership m
                        WHERE m.deployment_id = @DeploymentId AND m.address = @Address
                          AND m.port = @Port AND m.generation = @Generation)
    RETURNING v.deployment_id
), ins AS (
    INSERT INTO orleans_membership
        (deployment_id, address, port, generation, silo_name, host_name, status,
         proxy_port, suspect_times, start_time, i_am_alive_time)
    SELECT b.deployment_id, @Address, @Port, @Generation, coalesce(@SiloName, ''),
           coalesce(@HostName, ''), @Status, coalesce(@ProxyPort, 0), NULL,
           @StartTime, @IAmAliveTime
      FROM bump b
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM ins) AS "Inserted";
$q$),

-- Update status / suspicions / liveness of an existing silo row iff the table
-- version still equals @Version; bump the version. Returns one boolean.
('UpdateMembershipKey', $q$
WITH bump AS (
    UPDATE orleans_membership_version v
       SET version = v.version + 1, updated_at = now()
     WHERE v.deployment_id = @DeploymentId
       AND v.version = @Version
       AND EXISTS (SELECT 1 FROM orleans_membership m
                    WHERE m.deployment_id = @DeploymentId AND m.address = @Address
                      AND m.port = @Port AND m.generation = @Generation)
    RETURNING v.deployment_id
), upd AS (
    UPDATE orleans_membership m
       SET status = @Status, suspect_times = @SuspectTimes, i_am_alive_time = @IAmAliveTime
      FROM bump b
     WHERE m.deployment_id = b.deployment_id AND m.address = @Address
       AND m.port = @Port AND m.generation = @Generation
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM upd) AS "Updated";
$q$),

-- Heartbeat: no version check, no version bump (by design of the protocol).
('UpdateIAmAlivetimeKey', $q$
UPDATE orleans_membership
   SET i_am_alive_time = @IAmAliveTime
 WHERE deployment_id = @DeploymentId AND address = @Address
   AND port = @Port AND generation = @Generation;
$q$),

-- The version row LEFT JOIN the silo row: always one row while the cluster exists
-- (the provider takes the table version from the first row and treats a row
-- with NULL StartTime as "no member").
('MembershipReadRowKey', $q$
SELECT v.version         AS "Version",
       m.address         AS "Address",
       m.port            AS "Port",
       m.generation      AS "Generation",
       m.silo_name       AS "SiloName",
       m.host_name       AS "HostName",
       m.status          AS "Status",
       m.proxy_port      AS "ProxyPort",
       m.suspect_times   AS "SuspectTimes",
       m.start_time      AS "StartTime",
       m.i_am_alive_time AS "IAmAliveTime"
  FROM orleans_membership_version v
  LEFT JOIN orleans_membership m
         ON m.deployment_id = v.deployment_id AND m.address = @Address
        AND m.port = @Port AND m.generation = @Generation
 WHERE v.deployment_id = @DeploymentId;
$q$),

('MembershipReadAllKey', $q$
SELECT v.version         AS "Version",
       m.address         AS "Address",
       m.port            AS "Port",
       m.generation      AS "Generation",
       m.silo_name       AS "SiloName",
       m.host_name       AS "HostName",
       m.status          AS "Status",
       m.proxy_port      AS "ProxyPort",
       m.suspect_times   AS "SuspectTimes",
       m.start_time      AS "StartTime",
       m.i_am_alive_time AS "IAmAliveTime"
  FROM orleans_membership_version v
  LEFT JOIN orleans_membership m ON m.deployment_id = v.deployment_id
 WHERE v.deployment_id = @DeploymentId;
$q$),

-- Gateways for clients: active silos with a gateway port (@Status is bound to 3).
('GatewaysQueryKey', $q$
SELECT address    AS "Address",
       proxy_port AS "ProxyPort",
       generation AS "Generation"
  FROM orleans_membership
 WHERE deployment_id = @DeploymentId AND status = @Status AND proxy_port > 0;
$q$),

-- Remove the whole cluster (silo rows and version row).
('DeleteMembershipTableEntriesKey', $q$
WITH m AS (
    DELETE FROM orleans_membership WHERE deployment_id = @DeploymentId
)
DELETE FROM orleans_membership_version WHERE deployment_id = @DeploymentId;
$q$),

-- Bulk cleanup (used only if CleanupDefunctSiloEntryKey below is absent): dead
-- silos whose last heartbeat is older than the cutoff. Only Dead (6) rows, so
-- a slow-but-live silo is never removed from under the membership protocol.
('CleanupDefunctSiloEntriesKey', $q$
DELETE FROM orleans_membership
 WHERE deployment_id = @DeploymentId
   AND status = 6
   AND i_am_alive_time < @IAmAliveTime;
$q$),

-- Optional key (10.4.2 prefers it): the provider reads all rows, picks dead ones
-- older than the cutoff, and deletes each only if it still holds exactly the
-- values it read (no resurrection / new suspicion in between).
('CleanupDefunctSiloEntryKey', $q$
DELETE FROM orleans_membership
 WHERE deployment_id = @DeploymentId AND address = @Address
   AND port = @Port AND generation = @Generation
   AND status = 6
   AND start_time = @StartTime
   AND i_am_alive_time = @IAmAliveTime
   AND coalesce(suspect_times, '') = coalesce(@SuspectTimes, '');
$q$),

-- ----------------------------------------------------------------- persistence --
-- At most one row (unique index). No row -> Orleans: no state, etag NULL.
-- Row with NULL payload (cleared) -> no state, but etag = version.
('ReadFromStorageKey', $q$
SELECT payload_binary AS "PayloadBinary",
       version        AS "Version"
  FROM orleans_storage
 WHERE grain_id_hash = @GrainIdHash AND grain_type_hash = @GrainTypeHash
   AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
   AND service_id = @ServiceId AND grain_type = @GrainTypeString
   AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString;
$q$),

-- Write: etag NULL -> insert version 1 (fails softly if a row exists);
-- etag N -> update iff version = N, new version N+1.
-- Always returns ONE row "NewGrainStateVersion": the new version, or NULL on a
-- conflict (Orleans turns NULL/unchanged into InconsistentStateException).
('WriteToStorageKey', $q$
WITH upd AS (
    UPDATE orleans_storage
       SET payload_binary = @PayloadBinary, version = version + 1, modified_on = now()
     WHERE @GrainStateVersion IS NOT NULL
       AND grain_id_hash = @GrainIdHash AND grain_type_hash = @GrainTypeHash
       AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
       AND service_id = @ServiceId AND grain_type = @GrainTypeString
       AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString
       AND version = @GrainStateVersion
    RETURNING version
), ins AS (
    INSERT INTO orleans_storage
        (grain_id_hash, grain_id_n0, grain_id_n1, grain_type_hash, grain_type,
         grain_id_extension, service_id, payload_binary, version, modified_on)
    SELECT @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
           @GrainIdExtensionString, @ServiceId, @PayloadBinary, 1, now()
     WHERE @GrainStateVersion IS NULL
    ON CONFLICT DO NOTHING
    RETURNING version
)
SELECT (SELECT version FROM upd UNION ALL SELECT version FROM ins) AS "NewGrainStateVersion";
$q$),

-- ClearState (DeleteStateOnClear = false, the default): keep the row, drop the
-- payload, bump the version so the etag keeps guarding later writes.
-- One row: new version, or NULL on conflict.
('ClearStorageKey', $q$
WITH upd AS (
    UPDATE orleans_storage
       SET payload_binary = NULL, version = version + 1, modified_on = now()
     WHERE grain_id_hash = @GrainIdHash AND grain_type_hash = @GrainTypeHash
       AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
       AND service_id = @ServiceId AND grain_type = @GrainTypeString
       AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString
       AND version = @GrainStateVersion
    RETURNING version
)
SELECT (SELECT version FROM upd) AS "NewGrainStateVersion";
$q$),

-- ClearState with DeleteStateOnClear = true: delete the row iff the etag matches.
-- Orleans only needs a non-NULL value different from the old etag on success.
('DeleteStorageKey', $q$
WITH del AS (
    DELETE FROM orleans_storage
     WHERE grain_id_hash = @GrainIdHash AND grain_type_hash = @GrainTypeHash
       AND grain_id_n0 = @GrainIdN0 AND grain_id_n1 = @GrainIdN1
       AND service_id = @ServiceId AND grain_type = @GrainTypeString
       AND grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString
       AND version = @GrainStateVersion
    RETURNING version
)
SELECT (SELECT version + 1 FROM del) AS "NewGrainStateVersion";
$q$),

-- ------------------------------------------------------------------- reminders --
('ReadReminderRowsKey', $q$
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period AS "Period", version AS "Version"
  FROM orleans_reminders
 WHERE service_id = @ServiceId AND grain_id = @GrainId;
$q$),

('ReadReminderRowKey', $q$
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period AS "Period", version AS "Version"
  FROM orleans_reminders
 WHERE service_id = @ServiceId AND grain_id = @GrainId AND reminder_name = @ReminderName;
$q$),

-- Ring range (BeginHash, EndHash] when BeginHash < EndHash as signed int4.
('ReadRangeRows1Key', $q$
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period AS "Period", version AS "Version"
  FROM orleans_reminders
 WHERE service_id = @ServiceId
   AND grain_hash > @BeginHash AND grain_hash <= @EndHash;
$q$),

-- Wrap-around range (BeginHash >= EndHash as signed int4): everything after
-- BeginHash plus everything up to and including EndHash. Begin = End is the
-- full ring and correctly returns all rows.
('ReadRangeRows2Key', $q$
SELECT grain_id AS "GrainId", reminder_name AS "ReminderName", start_time AS "StartTime",
       period AS "Period", version AS "Version"
  FROM orleans_reminders
 WHERE service_id = @ServiceId
   AND (grain_hash > @BeginHash OR grain_hash <= @EndHash);
$q$),

-- Insert (version 0) or replace (version + 1); returns the new etag as "Version".
('UpsertReminderRowKey', $q$
INSERT INTO orleans_reminders
    (service_id, grain_id, reminder_name, start_time, period, grain_hash, version)
VALUES (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash, 0)
ON CONFLICT (service_id, grain_id, reminder_name) DO UPDATE
   SET start_time = excluded.start_time,
       period     = excluded.period,
       grain_hash = excluded.grain_hash,
       version    = orleans_reminders.version + 1
RETURNING version AS "Version";
$q$),

-- Delete iff the etag matches. Returns one boolean.
('DeleteReminderRowKey', $q$
WITH del AS (
    DELETE FROM orleans_reminders
     WHERE service_id = @ServiceId AND grain_id = @GrainId
       AND reminder_name = @ReminderName AND version = @Version
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM del) AS "Deleted";
$q$),

('DeleteReminderRowsKey', $q$
DELETE FROM orleans_reminders WHERE service_id = @ServiceId;
$q$)

ON CONFLICT (querykey) DO UPDATE SET querytext = excluded.querytext;
