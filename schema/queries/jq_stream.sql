-- jq_stream.sql: the statements of common/jq_stream.c (token streaming and
-- preemption at token boundaries; migration 0006).  Same conventions as
-- jq.sql: "-- name: x" lines, parameters typed with casts.

-- name: jq_progress_set
-- $1 worker, $2 job id, $3 the text generated so far
SELECT job_progress_set($1::text, $2::bigint, $3::text)::int

-- name: jq_higher_waiting
-- $1 model, $2 tier of the running job
SELECT job_higher_waiting($1::text, $2::smallint)::int

-- name: jq_suspend
-- $1 worker, $2 job id, $3 resume tokens (json array text, or NULL)
SELECT state FROM job_suspend($1::text, $2::bigint, $3::jsonb)

-- name: jq_stream_listen
SELECT job_stream_listen($1::bigint)

-- name: jq_stream_unlisten
SELECT job_stream_unlisten($1::bigint)

-- name: jq_stream_get
-- $1 tenant, $2 job id: (state, progress) of a live job, or the final
-- state and NULL progress from history; no row: not the tenant's job
SELECT j.state, j.progress FROM jobs j
 WHERE j.id = $2::bigint AND j.tenant_id = $1::bigint
UNION ALL
SELECT h.state, NULL FROM job_history h
 WHERE h.id = $2::bigint AND h.tenant_id = $1::bigint
 LIMIT 1
