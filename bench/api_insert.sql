-- pgbench script of bench/api.sh: the raw INSERT the API's enqueue is
-- compared with.  The same row as POST /v1/jobs writes (task, model, tier,
-- params, a 400-byte input), but with no auth, validation, idempotency,
-- depth check, fairness key lookup or NOTIFY: the floor an enqueue cannot
-- beat on this cluster.
INSERT INTO jobs (tenant_id, task, model, tier, fair_key, params, input, input_type)
VALUES (1, 'detect', 'centernet', 2, 0, '{}', decode(repeat('ab', 400), 'hex'), 'image/png');
