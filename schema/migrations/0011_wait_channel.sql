-- 0011 wait_channel: a synchronous call's finished job reaches its waiter
-- inside the notification, so vkv-api reads nothing after it.
--
-- Before, the waiter woke on `vkv_job_done` (the id) and then ran
-- jq_job_get_final for the job's JSON: one more round trip and statement
-- after every synchronous call (0.17-0.33 ms p50, bench/worker.sh).  A
-- payload on `vkv_job_done` itself would show results to every role that
-- can connect: LISTEN checks no privilege, and `vkv_readonly` reads job
-- metadata through the admin views but never results (0002).  So the JSON
-- goes to a channel whose name only the waiting connection knows:
-- job_wait_listen() draws it (`vkv_wait_` + 32 hex digits of
-- gen_random_uuid, 122 random bits) and LISTENs on it for the session;
-- the enqueue stores it in jobs.wait_channel, which no view shows and only
-- the service role can read; job_archive, which every path that ends a
-- job runs, sends `<id>:<job JSON>` there when that is shorter than the
-- 8000-byte payload limit.  Longer results send nothing there, and the
-- waiter reads as before after `vkv_job_done`, which is still sent for
-- every job (other waiters, event streams, lost notifications).
CREATE FUNCTION job_wait_listen() RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ch text := 'vkv_wait_' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    EXECUTE format('LISTEN %I', ch);
    RETURN ch;
END
$$;
REVOKE EXECUTE ON FUNCTION job_wait_listen() FROM PUBLIC;

-- only names job_wait_listen draws: an enqueue can never make a completion
-- notify another channel (the workers' vkv_job_new, say)
ALTER TABLE jobs ADD COLUMN wait_channel text
    CHECK (wait_channel ~ '^vkv_wait_[0-9a-f]{32}$');

-- 0005's function with the waiter's notification.  The JSON is job_json of
-- the history row as jobs_all shows it (the same projection as the view's
-- second branch), so it is the text jq_job_get_final would read after the
-- commit (20-sql compares them).  Sent inside this statement: notifications
-- are delivered at commit, in order, before the caller's vkv_job_done.
CREATE OR REPLACE FUNCTION job_archive(p_ids bigint[], p_states text[],
                                       p_errors text[] DEFAULT NULL,
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
                  x.result, x.result_bytes, x.result_type, x.timings, j.wait_channel
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
               d.idempotency_key, d.attempts, d.max_attempts, d.deadline_at,
               d.enqueued_at, d.started_at, d.worker, d.device, d.error, d.result,
               d.result_bytes, d.result_type, d.timings
          FROM d
        RETURNING *
    ),
    w AS MATERIALIZED (
        SELECT d.wait_channel AS ch,
               h.id || ':' || job_json(ROW(h.id, h.tenant_id, h.batch_id, h.task, h.model,
                   h.tier, h.state, h.cancel_requested, h.params, h.input_type,
                   h.input_bytes, h.idempotency_key, h.attempts, h.max_attempts,
                   h.deadline_at, h.enqueued_at, h.started_at, h.finished_at,
                   NULL::timestamptz, NULL::timestamptz, h.worker, h.device, h.error,
                   h.result, h.result_bytes IS NOT NULL, h.result_type,
                   h.timings)::jobs_all, true)::text AS msg
          FROM h JOIN d ON d.id = h.id
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
