-- 0012 thumb_is_input: a small input that is its own thumbnail is stored
-- once while its job is live.
--
-- vkv-api keeps a small PNG or JPEG as its own thumbnail (fcgi/README.md,
-- "Group enqueue"), and the enqueue used to write those bytes twice: in
-- jobs.input and in a job_thumbs row.  That row cost the single-job
-- statement 35-50 us of PostgreSQL CPU out of about 180 (pgbench, the
-- statement with the API's parameters, alternated runs, schema/README.md):
-- the largest part of the enqueue that the raw INSERT does not have.  Now
-- such a job only sets thumb_is_input; the thumbnail route reads jobs.input
-- while the job is live, and job_archive, which every path that ends a job
-- calls, copies the input into job_thumbs in its one statement for the
-- whole batch, with created_at = enqueued_at so that the thumbnail's
-- retention (a day after the enqueue) is unchanged.
ALTER TABLE jobs ADD COLUMN thumb_is_input boolean NOT NULL DEFAULT false;

-- as 0011's (the waiter's notification), plus the thumbnail copy of the
-- jobs whose input is their thumbnail (ON CONFLICT: a row written earlier
-- wins, as dash_thumb_put)
CREATE OR REPLACE FUNCTION job_archive(p_ids bigint[], p_states text[], p_errors text[] DEFAULT NULL,
                                       p_results jsonb[] DEFAULT NULL,
                                       p_result_bytes bytea[] DEFAULT NULL,
                                       p_result_types text[] DEFAULT NULL,
                                       p_timings jsonb[] DEFAULT NULL)
RETURNS TABLE (archived_id bigint, archived_state text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY
    WITH x AS (
        SELECT * FROM unnest(p_ids, p_states, p_errors, p_results, p_result_bytes,
                             p_result_types, p_timings)
                      AS x(id, state, error, result, result_bytes, result_type, timings)
    ),
    d AS (
        DELETE FROM jobs j USING x
         WHERE j.id = x.id
        RETURNING j.id, j.tenant_id, j.batch_id, j.task, j.model, j.tier,
                  x.state, j.cancel_requested OR x.state = 'canceled' AS cancel_requested,
                  j.params, j.input_type, octet_length(j.input) AS input_bytes,
                  j.idempotency_key, j.attempts, j.max_attempts, j.deadline_at,
                  j.enqueued_at, j.started_at, j.worker, j.device, x.error,
                  x.result, x.result_bytes, x.result_type, x.timings, j.wait_channel,
                  CASE WHEN j.thumb_is_input THEN j.input END AS thumb
    ),
    t AS (
        INSERT INTO job_thumbs (job_id, tenant_id, created_at, bytes)
        SELECT d.id, d.tenant_id, d.enqueued_at, d.thumb FROM d
         WHERE octet_length(d.thumb) BETWEEN 1 AND 1048576
        ON CONFLICT (job_id) DO NOTHING
    ),
    h AS (
        INSERT INTO job_history (id, tenant_id, batch_id, task, model, tier, state,
                                 cancel_requested, params, input_type, input_bytes,
                                 idempotency_key, attempts, max_attempts,
                                 deadline_at, enqueued_at, started_at, worker,
                                 device, error, result, result_bytes, result_type,
                                 timings)
        SELECT d.id, d.tenant_id, d.batch_id, d.task, d.model, d.tier, d.state,
               d.cancel_requested, d.params, d.input_type, d.input_bytes,
               d.idempotency_key, d.attempts, d.max_attempts,
               d.deadline_at, d.enqueued_at, d.started_at, d.worker,
               d.device, d.error, d.result, d.result_bytes, d.result_type,
               d.timings
          FROM d
        RETURNING job_history.id, job_history.state
    ),
    w AS MATERIALIZED (
        -- built from d, not h: returning whole history rows (results too)
        -- for every ended job and joining them back to d was work on the
        -- batched completion's path for the few jobs with a waiter.
        -- finished_at is job_history's default, now(), so the text is the
        -- row jq_job_get_final reads after the commit (20-sql compares).
        SELECT d.wait_channel AS ch,
               d.id || ':' || job_json(ROW(d.id, d.tenant_id, d.batch_id, d.task, d.model,
                   d.tier, d.state, d.cancel_requested, d.params, d.input_type,
                   d.input_bytes, d.idempotency_key, d.attempts, d.max_attempts,
                   d.deadline_at, d.enqueued_at, d.started_at, now(),
                   NULL::timestamptz, NULL::timestamptz, d.worker, d.device, d.error,
                   d.result, d.result_bytes IS NOT NULL, d.result_type,
                   d.timings)::jobs_all, true)::text AS msg
          FROM d
         WHERE d.wait_channel IS NOT NULL
    ),
    n AS MATERIALIZED (
        SELECT pg_notify(w.ch, w.msg) FROM w WHERE octet_length(w.msg) < 8000
    )
    SELECT h.id, h.state FROM h WHERE (SELECT count(*) FROM n) >= 0;
END
$$;
REVOKE EXECUTE ON FUNCTION job_archive(bigint[], text[], text[], jsonb[], bytea[], text[], jsonb[])
    FROM PUBLIC;
