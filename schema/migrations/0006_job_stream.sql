-- 0006 job_stream: text generation seen while it runs, and a running
-- generation that gives way to a higher tier at a token boundary.
--
-- jobs.progress: the text a generating job (Moondream 2 caption / query)
-- has produced so far, written by its worker in batches (every 50 ms at
-- most, not per token) and NOTIFYed on the job's own channel
-- vkv_job_progress_<id>, so vkv-api streams it token by token.  It leaves
-- the hot table with the job (job_archive copies named columns only).
--
-- job_suspend: the worker hands a running job back because a job of a
-- higher tier waits for the same model.  The job is queued again at once,
-- first in its tier (same fair_key), its attempts not charged (the claim's
-- increment is undone), with what it generated in params.resume_tokens so
-- the next claim continues instead of starting over; the aged lane's turn
-- is consumed so the worker's next claim goes by tier and takes the waiting
-- higher-tier job instead of this one again.
ALTER TABLE jobs ADD COLUMN progress text;

-- $1 worker, $2 job id, $3 the text so far.  Only the job's own worker
-- writes; the text only grows (a job that restarts from scratch after a
-- lost lease regenerates a prefix of what was sent before: the readers'
-- offsets stay valid).  Returns whether the job is still this worker's.
CREATE FUNCTION job_progress_set(p_worker text, p_id bigint, p_text text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    UPDATE jobs j SET progress = p_text
     WHERE j.id = p_id AND j.state = 'running' AND j.worker = p_worker
       AND coalesce(length(j.progress), 0) <= length(p_text)
    RETURNING true INTO ok;
    IF ok THEN
        PERFORM pg_notify('vkv_job_progress_' || p_id::text, '');
        RETURN true;
    END IF;
    RETURN EXISTS (SELECT 1 FROM jobs j
                    WHERE j.id = p_id AND j.state = 'running' AND j.worker = p_worker);
END
$$;

-- $1 model, $2 tier of the running job: whether a job of a higher,
-- unpaused tier waits for that model (the worker asks when a vkv_job_new
-- notification for its model arrives during a generation)
CREATE FUNCTION job_higher_waiting(p_model text, p_tier smallint) RETURNS boolean
LANGUAGE plpgsql STABLE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off
AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM tiers t
                    WHERE t.tier > p_tier AND NOT t.paused
                      AND EXISTS (SELECT 1 FROM jobs w
                                   WHERE w.state = 'queued' AND w.model = p_model
                                     AND w.tier = t.tier AND w.run_after <= now()
                                     AND (w.deadline_at IS NULL OR w.deadline_at > now())));
END
$$;

-- $1 worker, $2 job id, $3 resume tokens (a JSON array of ids, or NULL to
-- start over).  Returns 'queued', 'canceled' (a cancel was requested: the
-- caller fails it as canceled instead), or no row (not this worker's job).
CREATE FUNCTION job_suspend(p_worker text, p_id bigint, p_resume jsonb)
RETURNS TABLE (state text) LANGUAGE plpgsql AS $$
DECLARE
    cr boolean;
    m text;
BEGIN
    SELECT j.cancel_requested, j.model INTO cr, m FROM jobs j
     WHERE j.id = p_id AND j.state = 'running' AND j.worker = p_worker
     FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF cr THEN
        RETURN QUERY SELECT 'canceled'::text;
        RETURN;
    END IF;
    UPDATE jobs j
       SET state = 'queued', worker = NULL, device = NULL, lease_until = NULL,
           started_at = NULL, attempts = greatest(j.attempts - 1, 0), run_after = now(),
           params = CASE WHEN p_resume IS NULL THEN j.params - 'resume_tokens'
                         ELSE j.params || jsonb_build_object('resume_tokens', p_resume) END
     WHERE j.id = p_id;
    UPDATE queue_settings s
       SET aged_next_at = greatest(s.aged_next_at,
                                   now() + make_interval(secs => s.aged_interval_ms / 1000.0))
     WHERE s.id = 1;
    PERFORM pg_notify('vkv_job_new', m);
    RETURN QUERY SELECT 'queued'::text;
END
$$;

-- LISTEN / UNLISTEN on one job's progress channel (the channel name is an
-- identifier: built here from the id, never from client text)
CREATE FUNCTION job_stream_listen(p_id bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('LISTEN %I', 'vkv_job_progress_' || p_id::text);
END
$$;
CREATE FUNCTION job_stream_unlisten(p_id bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UNLISTEN %I', 'vkv_job_progress_' || p_id::text);
END
$$;

REVOKE EXECUTE ON FUNCTION job_progress_set(text, bigint, text),
    job_higher_waiting(text, smallint), job_suspend(text, bigint, jsonb),
    job_stream_listen(bigint), job_stream_unlisten(bigint) FROM PUBLIC;
