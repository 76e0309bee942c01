-- wrk script of bench/api.sh: POST /v1/jobs with the body in $BODY_FILE and
-- the key in $KEY; counts the statuses so the bench can refuse a run that
-- measured errors.
wrk.method = "POST"
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
