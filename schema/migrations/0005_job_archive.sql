-- 0005 job_archive: one function that moves ended jobs to job_history (the
-- history's column list is written here once; every path that ends a job
-- calls it), job_json's tier name read from the tiers table (the one SQL
-- copy of the tier vocabulary), and the enqueue's fair-key lookup planned as
-- an index probe whatever the statistics say.

-- Moves jobs that ended from jobs to job_history; returns (id, state) of
-- each job moved.  p_ids and the other arrays are parallel (a NULL array
-- means NULL for every job); p_states: succeeded, failed, canceled or
-- expired.  The caller has chosen the jobs under its own conditions and
-- locked them (FOR UPDATE); an id no longer in jobs is skipped.  A canceled
-- job records cancel_requested = true.  Set-based: one call per statement,
-- so a batch of completions costs one DELETE and one INSERT.
CREATE FUNCTION job_archive(p_ids bigint[], p_states text[], p_errors text[] DEFAULT NULL,
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
                  x.result, x.result_bytes, x.result_type, x.timings
    ),
    h AS (
        INSERT INTO job_history (id, tenant_id, batch_id, task, model, tier, state,
                                 cancel_requested, params, input_type, input_bytes,
                                 idempotency_key, attempts, max_attempts,
                                 deadline_at, enqueued_at, started_at, worker,
                                 device, error, result, result_bytes, result_type,
                                 timings)
        SELECT * FROM d
        RETURNING job_history.id, job_history.state
    )
    SELECT h.id, h.state FROM h;
END
$$;

-- The fair key of a tenant's next job in a tier: one quantum after its last
-- queued job, or now.  Written as a function so that it carries its own
-- planner settings: the lookup is always a probe of jobs_tenant_fair_idx
-- from its high end.  Inline in the enqueue it was planned as an aggregate
-- over every queued row of the tier whenever the statistics did not know
-- the rows (never analysed, or a long transaction whose generic plan was
-- made before its rows existed): 5,000 enqueues in one transaction cost
-- O(n^2).  The settings only price the other plans out; this query has an
-- index plan, so none of them is ever needed.
CREATE FUNCTION job_fair_key(p_tenant bigint, p_tier smallint) RETURNS bigint
LANGUAGE plpgsql STABLE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off
AS $$
BEGIN
    RETURN greatest(
        coalesce((SELECT j.fair_key FROM jobs j
                   WHERE j.tenant_id = p_tenant AND j.tier = p_tier AND j.state = 'queued'
                   ORDER BY j.fair_key DESC
                   LIMIT 1)
                 + (SELECT s.fair_quantum_ms FROM queue_settings s WHERE s.id = 1), 0),
        (extract(epoch FROM now()) * 1000)::bigint);
END
$$;

-- whether a job of model is waiting in tier (the enqueue's wake-up test):
-- the newest queued entry of jobs_model_claim_idx, same planner settings and
-- the same reason as job_fair_key
CREATE FUNCTION job_model_waiting(p_model text, p_tier smallint) RETURNS boolean
LANGUAGE plpgsql STABLE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off
AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM jobs w
                    WHERE w.state = 'queued' AND w.model = p_model AND w.tier = p_tier
                      AND w.run_after <= now()
                    ORDER BY w.fair_key DESC
                    LIMIT 1);
END
$$;

-- the API's JSON for one job: as 0001's, with the tier name from tiers
CREATE OR REPLACE FUNCTION job_json(j jobs_all, full_ boolean) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', j.id, 'tenant_id', j.tenant_id, 'batch_id', j.batch_id,
        'task', j.task, 'model', j.model, 'tier', j.tier,
        'tier_name', (SELECT t.name FROM tiers t WHERE t.tier = j.tier),
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

-- the service role (the owner) runs these; the read-only role must not
REVOKE EXECUTE ON FUNCTION job_archive(bigint[], text[], text[], jsonb[], bytea[], text[], jsonb[]),
    job_fair_key(bigint, smallint), job_model_waiting(text, smallint) FROM PUBLIC;
