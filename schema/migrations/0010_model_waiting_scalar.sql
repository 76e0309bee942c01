-- 0010 model_waiting_scalar: job_model_waiting keeps the claim index's order
-- whatever the table's statistics.
--
-- 0005 asked `EXISTS (SELECT ... ORDER BY fair_key DESC LIMIT 1)`.
-- PostgreSQL drops ORDER BY and LIMIT inside EXISTS, so nothing tied the
-- probe to jobs_model_claim_idx.  With the statistics of a table analysed
-- while nearly empty, the planner walked jobs_tenant_fair_idx on the tier
-- alone and read every queued job of every model in that tier before
-- answering: with 20,000 jobs of one model queued, each enqueue of another
-- model in the tier took 3.3-3.9 ms ("Rows Removed by Filter: 20000" under
-- auto_explain).  A scalar sub-query keeps its ORDER BY, and with sorts
-- disabled only jobs_model_claim_idx (model, tier DESC, fair_key, id),
-- scanned backwards, gives that order: the probe reads the model's newest
-- queued entries of the tier and nothing else.  Same answer as before.
-- Suite 20-sql checks the plan under those statistics, and that 0005's body
-- still takes the slow plan there (so the check can fail).
CREATE OR REPLACE FUNCTION job_model_waiting(p_model text, p_tier smallint) RETURNS boolean
LANGUAGE plpgsql STABLE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off
AS $$
BEGIN
    RETURN (SELECT 1 FROM jobs w
             WHERE w.state = 'queued' AND w.model = p_model AND w.tier = p_tier
               AND w.run_after <= now()
             ORDER BY w.fair_key DESC
             LIMIT 1) IS NOT NULL;
END
$$;
