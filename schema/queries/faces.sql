-- faces.sql: the statements of the face search (fcgi/api_faces.c,
-- fcgi/handlers/h_faces.c).  $1 is always the caller's tenant: a tenant
-- never reads another tenant's faces.

-- name: faces_stat
-- What the in-memory matrix must hold: the tenant's face count and last id
-- (a count below the cached one means faces were deleted: reload).
SELECT count(*)::bigint, coalesce(max(id), 0)::bigint
  FROM faces WHERE tenant_id = $1::bigint;

-- name: faces_since
-- The tenant's faces after id $2, in id order, at most $3 rows (binary
-- results: the descriptor as a real[] in the array wire format).
SELECT id, descriptor
  FROM faces
 WHERE tenant_id = $1::bigint AND id > $2::bigint
 ORDER BY id
 LIMIT $3::int;

-- name: face_descriptor
-- One face's descriptor (binary result), for a search by face id.
SELECT descriptor FROM faces WHERE tenant_id = $1::bigint AND id = $2::bigint;

-- name: faces_rows
-- The faces with ids $2 (the search's candidates) with their descriptors
-- (binary results) and what the answer shows of them.
SELECT id, descriptor, job_id, face_index, box::text, score, age, gender, gender_score,
       emotion
  FROM faces
 WHERE tenant_id = $1::bigint AND id = ANY ($2::bigint[]);

-- name: faces_of_job
-- A job's faces in order, with their descriptors as text ({...}), for
-- POST /v1/faces with "descriptor": true.
SELECT face_index, id, descriptor::text
  FROM faces
 WHERE tenant_id = $1::bigint AND job_id = $2::bigint
 ORDER BY face_index;

-- name: faces_ids
-- The ids of the tenant's faces after $2, at most $3 (an index-only scan),
-- to find rows that committed behind the last id the API holds.
SELECT id FROM faces WHERE tenant_id = $1::bigint AND id > $2::bigint ORDER BY id LIMIT $3::int;

-- name: faces_vector_ready
-- Whether pgvector's index for the faces is set up (migration 0008).
SELECT faces_vector_ready();

-- name: faces_vector_search
-- The tenant's $4 faces nearest to descriptor $2 through pgvector's HNSW
-- index, face $3 left out (0 = none): id, cosine similarity, best first.
SELECT id, similarity FROM faces_vector_search($1::bigint, $2::real[], $3::bigint, $4::int);
