-- 0009 job_json_plpgsql: job_json (the API's JSON for one job) as PL/pgSQL,
-- same body, same output.
--
-- As LANGUAGE sql it is never inlined (its row argument is read ~25 times),
-- so every statement that calls it plans its body again: a prepared
-- `SELECT job_json(j, true)::text FROM jobs_all j WHERE j.id = $1` took
-- 0.29-0.42 ms, of which the view lookup is 0.06 ms.  PL/pgSQL keeps the
-- plan of its one sub-query (the tier name) for the session and evaluates
-- the rest as one expression: 0.10-0.16 ms.  This is the synchronous wait's
-- statement after the job ends (jq_job_get_final), GET /v1/jobs/ID and each
-- row of the job list.  Suite 20-sql compares it with 0005's body.
CREATE OR REPLACE FUNCTION job_json(j jobs_all, full_ boolean) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN json_build_object(
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
        'timings', CASE WHEN full_ THEN j.timings END);
END
$$;
