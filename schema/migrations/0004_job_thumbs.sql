-- 0004 job_thumbs: a small WebP preview of each job's input, kept after the
-- job ends (its input leaves the hot table with it) so the dashboard can
-- draw a finished job's result on its picture.  Written by vkv-api at
-- enqueue (VKV_THUMB_SIDE, 0 = none), read by GET /v1/jobs/{id}/thumbnail,
-- deleted by retention after a day (vkv-admin retention run).  Not readable
-- by vkv_readonly: it is the customer's image.
CREATE TABLE job_thumbs (
    job_id      bigint PRIMARY KEY,
    tenant_id   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    bytes       bytea NOT NULL CHECK (octet_length(bytes) BETWEEN 1 AND 1048576)
);
-- rows arrive in created_at order: BRIN serves the retention delete
CREATE INDEX job_thumbs_created_idx ON job_thumbs USING brin (created_at);
