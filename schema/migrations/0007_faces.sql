-- 0007 faces: every face a `faces` job found (or the `faces` part of an
-- analyze job), with its attributes and its 1024-d descriptor, per tenant,
-- for POST /v1/faces/similar and for grouping people with SQL.
--
-- The worker writes each face's descriptor into the job's result (a JSON
-- array of 1024 numbers, L2-normalised); the trigger below moves it into
-- this table when the job is archived (job_archive's INSERT INTO
-- job_history), in the same transaction, and leaves the face's new id as
-- "face_id" in the result instead.  So a stored result never carries the
-- 4 KB descriptor, whatever path completed the job, and a face row exists
-- exactly when its job succeeded.  Rows outlive the job's history
-- (retention deletes job_history, not faces); a tenant's faces go with the
-- tenant (ON DELETE CASCADE).
CREATE TABLE faces (
    id           bigserial PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    job_id       bigint NOT NULL,
    face_index   int NOT NULL CHECK (face_index >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    box          jsonb NOT NULL,
    score        real,
    age          real,
    gender       text,
    gender_score real,
    emotion      text,
    descriptor   real[] NOT NULL CHECK (cardinality(descriptor) = 1024),
    UNIQUE (tenant_id, job_id, face_index)
);
-- a tenant's faces in id order: the API's incremental refresh (id > last)
CREATE INDEX faces_tenant_id_idx ON faces (tenant_id, id);

-- an admin groups faces with SQL (README, "Face search")
GRANT SELECT ON faces TO vkv_readonly;

-- Cosine distance of two descriptors (1 - cosine similarity; both are
-- L2-normalised, so 1 - dot product): 0 the same vector, about 0.3-0.5
-- the same person in another photo, 0.6 and more someone else (README,
-- "Face search").  For admin SQL; the API searches in memory.
CREATE FUNCTION face_distance(a real[], b real[]) RETURNS real
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (1 - sum(x * y))::real FROM unnest(a, b) AS t(x, y)
$$;

-- Moves the descriptors of a succeeding faces (or analyze) job's result into
-- faces, unless the job's params say "store": false (then they stay in the
-- result: the search by image reads its query from there).  A face whose descriptor is not an array of 1024 numbers is kept
-- in the result without one (and without a row): a bad result must never
-- keep a job from ending.
CREATE FUNCTION faces_capture() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p text[];
    arr jsonb;
    f jsonb;
    d jsonb;
    fid bigint;
    outs jsonb := '[]'::jsonb;
BEGIN
    -- a search by image (POST /v1/faces/similar) is not the tenant's photo
    IF NEW.params ->> 'store' = 'false' THEN
        RETURN NEW;
    END IF;
    IF NEW.task = 'faces' THEN
        p := '{faces}';
    ELSE
        p := '{results,faces,faces}';
    END IF;
    arr := NEW.result #> p;
    IF arr IS NULL OR jsonb_typeof(arr) <> 'array' THEN
        RETURN NEW;
    END IF;
    FOR i IN 0 .. jsonb_array_length(arr) - 1 LOOP
        f := arr -> i;
        d := f -> 'descriptor';
        IF d IS NOT NULL THEN
            f := f - 'descriptor';
            IF jsonb_typeof(d) = 'array' AND jsonb_array_length(d) = 1024
               AND NOT jsonb_path_exists(d, '$[*] ? (@.type() != "number")')
               AND jsonb_typeof(f -> 'box') = 'object' THEN
                BEGIN
                INSERT INTO faces (tenant_id, job_id, face_index, box, score, age, gender,
                                   gender_score, emotion, descriptor)
                VALUES (NEW.tenant_id, NEW.id, i, f -> 'box',
                        CASE WHEN jsonb_typeof(f -> 'score') = 'number'
                             THEN (f ->> 'score')::real END,
                        CASE WHEN jsonb_typeof(f -> 'age') = 'number'
                             THEN (f ->> 'age')::real END,
                        left(f ->> 'gender', 16),
                        CASE WHEN jsonb_typeof(f -> 'gender_score') = 'number'
                             THEN (f ->> 'gender_score')::real END,
                        left(f ->> 'emotion', 16),
                        ARRAY(SELECT x::real FROM jsonb_array_elements_text(d) AS t(x)))
                ON CONFLICT (tenant_id, job_id, face_index)
                DO UPDATE SET descriptor = EXCLUDED.descriptor
                RETURNING id INTO fid;
                f := f || jsonb_build_object('face_id', fid);
                EXCEPTION WHEN others THEN
                    RAISE WARNING 'job %: face % not stored: %', NEW.id, i, SQLERRM;
                END;
            END IF;
        END IF;
        outs := outs || jsonb_build_array(f);
    END LOOP;
    NEW.result := jsonb_set(NEW.result, p, outs);
    RETURN NEW;
END
$$;

CREATE TRIGGER job_history_faces BEFORE INSERT ON job_history
    FOR EACH ROW
    WHEN (NEW.state = 'succeeded' AND NEW.result IS NOT NULL
          AND NEW.task IN ('faces', 'analyze'))
    EXECUTE FUNCTION faces_capture();
