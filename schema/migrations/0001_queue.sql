-- 0001_queue: tenants, API keys, the hot job queue, job history, batches,
-- idempotency keys, tiers (pause), queue settings, the worker registry.
-- See schema/README.md for the state machine, claim order and bounds.
-- Forward-only: once applied, this file is never edited (checksummed).

CREATE TABLE tenants (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- keys are stored as SHA-256 of the printable key (32 random bytes: no slow
-- hash needed); key_prefix (first 12 characters) tells keys apart in logs
CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    key_hash    bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    key_prefix  text NOT NULL,
    is_admin    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE tiers (
    tier        smallint PRIMARY KEY CHECK (tier BETWEEN 0 AND 3),
    name        text NOT NULL UNIQUE,
    paused      boolean NOT NULL DEFAULT false,
    paused_at   timestamptz,
    -- queued jobs, counted (up to the depth limit) at most every 2 s by
    -- whichever enqueue finds the count stale: the depth limit's input
    depth_cached bigint NOT NULL DEFAULT 0,
    depth_at     timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO tiers (tier, name) VALUES
    (0, 'BACKGROUND'), (1, 'PRELOAD'), (2, 'INTERACTIVE'), (3, 'IMMEDIATE');

-- one row; tunable by an admin with UPDATE (no restart needed)
CREATE TABLE queue_settings (
    id                int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    -- a job of tier < 3 whose fair_key is older than aging_ms is "aged" and
    -- may take the aged lane: one claim per aged_interval_ms goes to the
    -- oldest aged job whatever the tiers above it hold (starvation bound)
    aging_ms          int NOT NULL DEFAULT 10000 CHECK (aging_ms >= 0),
    aged_interval_ms  int NOT NULL DEFAULT 1000 CHECK (aged_interval_ms >= 0),
    aged_next_at      timestamptz NOT NULL DEFAULT '-infinity',
    -- spacing of one tenant's queued jobs in a tier (virtual time, fairness)
    fair_quantum_ms   int NOT NULL DEFAULT 1000 CHECK (fair_quantum_ms >= 1),
    -- transient failures: run_after = now + min(max, base * 2^(attempts-1))
    retry_base_ms     int NOT NULL DEFAULT 2000 CHECK (retry_base_ms >= 0),
    retry_max_ms      int NOT NULL DEFAULT 300000 CHECK (retry_max_ms >= 0)
);
INSERT INTO queue_settings DEFAULT VALUES;

CREATE TABLE batches (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    tier        smallint NOT NULL CHECK (tier BETWEEN 0 AND 3),
    label       text,
    n_expected  int NOT NULL CHECK (n_expected >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX batches_tenant_idx ON batches (tenant_id, id);

-- one id space for live and finished jobs
CREATE SEQUENCE job_id_seq;

-- The hot table: only queued and running jobs.  A job that ends is moved to
-- job_history (its input is dropped), so this table stays as small as the
-- backlog.  Claims and completions churn it: vacuum it early and often.
CREATE TABLE jobs (
    id               bigint PRIMARY KEY DEFAULT nextval('job_id_seq'),
    tenant_id        bigint NOT NULL,
    batch_id         bigint,
    task             text NOT NULL CHECK (length(task) BETWEEN 1 AND 31),
    model            text NOT NULL CHECK (length(model) BETWEEN 1 AND 63),
    tier             smallint NOT NULL CHECK (tier BETWEEN 0 AND 3),
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running')),
    -- claim order within a tier (virtual start time in epoch ms, see README)
    fair_key         bigint NOT NULL,
    cancel_requested boolean NOT NULL DEFAULT false,
    params           jsonb NOT NULL DEFAULT '{}',
    input            bytea,
    input_type       text,
    idempotency_key  text,
    attempts         int NOT NULL DEFAULT 0,
    max_attempts     int NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
    run_after        timestamptz NOT NULL DEFAULT now(),
    deadline_at      timestamptz,
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    lease_until      timestamptz,
    worker           text,
    device           text,
    last_error       text
) WITH (fillfactor = 70,
        autovacuum_vacuum_scale_factor = 0,
        autovacuum_vacuum_threshold = 500,
        autovacuum_vacuum_insert_scale_factor = 0,
        autovacuum_vacuum_insert_threshold = 1000,
        autovacuum_analyze_scale_factor = 0.05,
        autovacuum_vacuum_cost_delay = 0,
        toast.autovacuum_vacuum_scale_factor = 0,
        toast.autovacuum_vacuum_threshold = 500,
        toast.autovacuum_vacuum_cost_delay = 0);

-- the claim order per model (partial: only queued rows are in it); the
-- claim probes (model, tier) pairs with equality on both, and fills a batch
-- with equality on model, so the index order is the claim order
CREATE INDEX jobs_model_claim_idx ON jobs (model, tier DESC, fair_key, id)
    WHERE state = 'queued';
-- a tenant's last queued job in a tier (fair_key of the next enqueue)
CREATE INDEX jobs_tenant_fair_idx ON jobs (tenant_id, tier, fair_key) WHERE state = 'queued';
-- running jobs (lease expiry scan); id never changes, so a heartbeat that
-- only moves lease_until is a HOT update
CREATE INDEX jobs_running_idx ON jobs (id) WHERE state = 'running';
CREATE INDEX jobs_deadline_idx ON jobs (deadline_at) WHERE deadline_at IS NOT NULL;
CREATE INDEX jobs_batch_idx ON jobs (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX jobs_tenant_idx ON jobs (tenant_id, id);

-- finished jobs: succeeded, failed, canceled, expired (kept for
-- VKV_RETENTION_DAYS, see vkv-admin retention run)
CREATE TABLE job_history (
    id               bigint PRIMARY KEY,
    tenant_id        bigint NOT NULL,
    batch_id         bigint,
    task             text NOT NULL,
    model            text NOT NULL,
    tier             smallint NOT NULL,
    state            text NOT NULL
                     CHECK (state IN ('succeeded', 'failed', 'canceled', 'expired')),
    cancel_requested boolean NOT NULL DEFAULT false,
    params           jsonb NOT NULL,
    input_type       text,
    input_bytes      int,
    idempotency_key  text,
    attempts         int NOT NULL,
    max_attempts     int NOT NULL,
    deadline_at      timestamptz,
    enqueued_at      timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz NOT NULL DEFAULT now(),
    worker           text,
    device           text,
    error            text,
    result           jsonb,
    result_bytes     bytea,
    result_type      text,
    timings          jsonb
) WITH (autovacuum_vacuum_insert_scale_factor = 0.05);
CREATE INDEX job_history_tenant_idx ON job_history (tenant_id, id);
-- rows arrive in finished_at order: a BRIN index costs next to nothing per
-- insert and serves retention and time-range admin queries
CREATE INDEX job_history_finished_idx ON job_history USING brin (finished_at);
CREATE INDEX job_history_batch_idx ON job_history (batch_id) WHERE batch_id IS NOT NULL;

-- Idempotency-Key: (tenant, key) -> the first job, live or finished
CREATE TABLE idempotency (
    tenant_id   bigint NOT NULL,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    job_id      bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_created_idx ON idempotency (created_at);

-- worker registry (GET /v1/gpus): one row per worker process
CREATE TABLE workers (
    name        text PRIMARY KEY,
    device      jsonb NOT NULL DEFAULT '{}',
    started_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

-- every job, live or finished, without the bytes: what the API reads
CREATE VIEW jobs_all AS
    SELECT id, tenant_id, batch_id, task, model, tier, state, cancel_requested,
           params, input_type, octet_length(input) AS input_bytes,
           idempotency_key, attempts, max_attempts, deadline_at, enqueued_at,
           started_at, NULL::timestamptz AS finished_at, lease_until, run_after,
           worker, device, last_error AS error, NULL::jsonb AS result,
           false AS has_result_bytes, NULL::text AS result_type,
           NULL::jsonb AS timings
      FROM jobs
    UNION ALL
    SELECT id, tenant_id, batch_id, task, model, tier, state, cancel_requested,
           params, input_type, input_bytes, idempotency_key, attempts,
           max_attempts, deadline_at, enqueued_at, started_at, finished_at,
           NULL, NULL, worker, device, error, result,
           result_bytes IS NOT NULL, result_type, timings
      FROM job_history;

-- the API's JSON for one job (params/result included when full)
CREATE FUNCTION job_json(j jobs_all, full_ boolean) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', j.id, 'tenant_id', j.tenant_id, 'batch_id', j.batch_id,
        'task', j.task, 'model', j.model, 'tier', j.tier,
        'tier_name', (ARRAY['BACKGROUND','PRELOAD','INTERACTIVE','IMMEDIATE'])[j.tier + 1],
        'state', j.state, 'cancel_requested', j.cancel_requested,
        'attempts', j.attempts, 'max_attempts', j.max_attempts,
        'enqueued_at', j.enqueued_at, 'started_at', j.started_at,
        'finished_at', j.finished_at, 'deadline_at', j.deadline_at,
        'run_after', CASE WHEN j.run_after > now() THEN j.run_after END,
        'wait_ms', round(extract(epoch FROM (coalesce(j.started_at,
                   CASE WHEN j.state = 'queued' THEN now() END) - j.enqueued_at)) * 1000),
        'run_ms', round(extract(epoch FROM (j.finished_at - j.started_at)) * 1000),
        'worker', j.worker, 'device', j.device, 'error', j.error,
        'input_type', j.input_type, 'input_bytes', j.input_bytes,
        'params', CASE WHEN full_ THEN j.params END,
        'result', CASE WHEN full_ THEN j.result END,
        'has_result_bytes', j.has_result_bytes, 'result_type', j.result_type,
        'timings', CASE WHEN full_ THEN j.timings END)
$$;
