-- pgbench script of bench/api.sh: the raw INSERT plus the NOTIFY that wakes
-- workers (what jq_enqueue must do at least), in one transaction.  NOTIFY
-- serialises committing transactions (PreCommit_Notify holds one
-- cluster-wide lock across the commit), so this is the ceiling of any notifying enqueue.
BEGIN;
INSERT INTO jobs (tenant_id, task, model, tier, fair_key, params, input, input_type)
VALUES (1, 'detect', 'centernet', 2, 0, '{}', decode(repeat('ab', 400), 'hex'), 'image/png');
SELECT pg_notify('vkv_job_new', 'centernet');
END;
