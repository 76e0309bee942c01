/*
 * h_analyze.h: photo analysis -- one job, one decode, several models
 * (h_analyze.c).  The route is registered in fcgi/api_routes.c; the job
 * rules are used by api_job.c for every job of task "analyze" (POST
 * /v1/jobs, /v1/batches and /v1/analyze).
 */
#ifndef VKV_H_ANALYZE_H
#define VKV_H_ANALYZE_H

#include "fcgi/api.h"
#include "fcgi/api_impl.h"

/* the task and the model name analyze jobs are queued under */
#define API_ANALYZE_TASK "analyze"

/*
 * POST /v1/analyze {image_url, tasks?, models?, tier?, deadline_ms?} (or
 * multipart with a file field "image"): runs the job synchronously and
 * answers its combined result (README, "Photo analysis").
 */
int api_h_analyze(struct api_ctx *ctx, struct api_req *r);

/*
 * The task/model check of an analyze job: model must be absent or
 * "analyze" (spec->model is set to it).  Returns API_OK or 400 with e.
 */
int api_analyze_check_model(struct api_ctx *ctx, struct api_job_spec *spec, struct err *e);

/*
 * The tasks a job may name, for the lists clients see (GET /v1/models
 * "tasks", the unknown_task message): the catalogue's, plus "analyze" when
 * a model of any analyze part is installed.  Returns a new array (caller
 * decrefs).  Cannot fail.
 */
json_t *api_analyze_tasks_json(const struct api_models *ms);

/*
 * Validates and completes an analyze job's params in place:
 * {"tasks"?: [...], "models"?: {task: model}} becomes {"tasks": [...],
 * "models": {task: model}} with every task's model named (the catalogue's
 * default when not given; default tasks: those of classify, detect,
 * detect_faces and tag with a model).  Idempotent.  spec->params_json is replaced
 * by an arena string.  Returns API_OK, or 400 (invalid_field,
 * unknown_task, unknown_model, unknown_field) / 503 model_not_installed.
 */
int api_analyze_params(struct api_ctx *ctx, struct api_job_spec *spec, struct err *e);

#endif
