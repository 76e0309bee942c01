/*
 * h_station.h: the Moondream Station status routes (h_station.c),
 * registered in fcgi/api_routes.c.  Each answers exactly once; see
 * fcgi/handlers/handlers.h for the handler contract.
 */
#ifndef VKV_H_STATION_H
#define VKV_H_STATION_H

#include "fcgi/api.h"

/* GET /health (no key) -> {"status": "ok", "server": "moondream-station"} */
int api_h_station_health(struct api_ctx *ctx, struct api_req *r);
/* GET /v1/stats (key) -> {workers, queue_size, max_queue_size, processing,
 * timeouts, default_timeout, model, status, requests_processed} */
int api_h_station_stats(struct api_ctx *ctx, struct api_req *r);

#endif
