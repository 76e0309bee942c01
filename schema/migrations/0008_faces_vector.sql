-- 0008 faces_vector: pgvector's index for the face search, where the
-- operator's PostgreSQL has the extension (Debian 12 ships none).
--
-- faces_vector_setup() does nothing on a server without `vector` in
-- pg_available_extensions (it answers 'unavailable').  Where it is
-- available it creates the extension, a column `embedding vector(1024)`
-- filled from `descriptor`, a trigger keeping it filled, and an HNSW index
-- on it (cosine distance).  All of that runs in a subtransaction: a
-- failure (no right to create the extension, an old pgvector) is a
-- WARNING and the answer 'failed: <reason>', never a failed migration.
-- The migration calls it once; an operator who installs pgvector later
-- (or whose DBA has to run CREATE EXTENSION as superuser) runs
-- `SELECT faces_vector_setup();` as the service role.
--
-- vkv-api asks faces_vector_ready() and, when it is true, answers
-- /v1/faces/similar with faces_vector_search() (ORDER BY the distance, the
-- index's order) instead of its in-memory exact search (README, "Face
-- search").  Nothing here names the type `vector` outside a function
-- body run only when the extension exists, so this file applies on a
-- plain PostgreSQL.  Untested here: no pgvector on this platform.

CREATE FUNCTION faces_vector_setup() RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        RETURN 'unavailable';
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS vector;
        -- a descriptor pgvector refuses (not 1024 finite numbers) gets no
        -- embedding, never a failed insert: a face row is written by the
        -- trigger that archives its job (0007), which must not fail
        CREATE OR REPLACE FUNCTION faces_embedding_of(d real[]) RETURNS vector
        LANGUAGE plpgsql IMMUTABLE STRICT AS $f$
        BEGIN
            RETURN d::vector(1024);
        EXCEPTION WHEN others THEN
            RETURN NULL;
        END
        $f$;
        ALTER TABLE faces ADD COLUMN IF NOT EXISTS embedding vector(1024);
        UPDATE faces SET embedding = faces_embedding_of(descriptor) WHERE embedding IS NULL;
        CREATE OR REPLACE FUNCTION faces_embedding_sync() RETURNS trigger
        LANGUAGE plpgsql AS $f$
        BEGIN
            NEW.embedding := faces_embedding_of(NEW.descriptor);
            RETURN NEW;
        END
        $f$;
        CREATE OR REPLACE TRIGGER faces_embedding_sync
            BEFORE INSERT OR UPDATE OF descriptor ON faces
            FOR EACH ROW EXECUTE FUNCTION faces_embedding_sync();
        -- descriptors are L2-normalised: cosine order = Euclidean order
        CREATE INDEX IF NOT EXISTS faces_embedding_hnsw
            ON faces USING hnsw (embedding vector_cosine_ops);
    EXCEPTION WHEN others THEN
        RAISE WARNING 'faces: pgvector index not set up: %', SQLERRM;
        RETURN 'failed: ' || SQLERRM;
    END;
    RETURN 'ready';
END
$$;

-- only the owner (the service role that migrates) sets it up
REVOKE EXECUTE ON FUNCTION faces_vector_setup() FROM PUBLIC;

-- Whether faces_vector_search() can run: the extension, the column and the
-- index are there.
CREATE FUNCTION faces_vector_ready() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')
       AND EXISTS (SELECT 1 FROM pg_attribute
                    WHERE attrelid = 'faces'::regclass AND attname = 'embedding'
                      AND NOT attisdropped)
       AND EXISTS (SELECT 1 FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
                    WHERE i.indrelid = 'faces'::regclass AND c.relname = 'faces_embedding_hnsw')
$$;

-- The tenant's p_limit faces nearest to p_query (cosine similarity, best
-- first), face p_skip left out, through the HNSW index: approximate, as
-- pgvector's index is.  The index is shared by all tenants and the tenant
-- is a filter on what it returns, so ef_search is raised with the limit,
-- and pgvector 0.8's iterative scan (which keeps reading the index until
-- enough rows pass the filter) is asked for where it exists.  The query
-- runs through EXECUTE ... USING (a constant statement, its values as
-- parameters): a plan made for the actual query vector, as an index
-- ordering needs, instead of a cached plan over a placeholder.  The
-- first statement loads pgvector's library, so that the hnsw.* settings
-- are its own and not placeholders.
CREATE FUNCTION faces_vector_search(p_tenant bigint, p_query real[], p_skip bigint,
                                    p_limit int)
RETURNS TABLE (id bigint, similarity real)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'SELECT $1::vector(1024)' USING p_query;
    PERFORM set_config('hnsw.ef_search', greatest(40, least(1000, 4 * p_limit + 64))::text, true);
    BEGIN
        PERFORM set_config('hnsw.iterative_scan', 'strict_order', true);
    EXCEPTION WHEN others THEN
        NULL; -- pgvector before 0.8: no iterative scan
    END;
    RETURN QUERY EXECUTE
        'SELECT f.id, (1 - (f.embedding <=> $2::vector(1024)))::real
           FROM faces f
          WHERE f.tenant_id = $1 AND f.id <> $3 AND f.embedding IS NOT NULL
          ORDER BY f.embedding <=> $2::vector(1024)
          LIMIT $4'
        USING p_tenant, p_query, p_skip, p_limit;
END
$$;

SELECT faces_vector_setup();
