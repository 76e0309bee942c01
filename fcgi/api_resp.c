/*
 * api_resp.c: writes responses (JSON, text, errors, server-sent events).
 *
 * A response goes through struct api_out, so the same code writes to FCGX
 * in the server and to a buffer in tests.  The head ("Status: ...",
 * headers) is written once; a second reply on the same request is a bug.
 * Write failures mean nginx or the client went away: they are reported as
 * API_ERR_IO and never retried.  See fcgi/README.md.
 */
#include "fcgi/api.h"
#include "fcgi/api_impl.h"

#include "common/cm.h"
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *status_text(int s)
{
    switch (s) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 507:
        return "Insufficient Storage";
    default:
        return "Unknown";
    }
}

static int out_write(struct api_req *r, const char *p, size_t n)
{
    if (n == 0)
        return API_OK;
    if (r->out.write(r->out.u, p, n) != 0) {
        log_debug("client went away while writing the response");
        return API_ERR_IO;
    }
    return API_OK;
}

static int send_head(struct api_req *r, int status, const char *ctype, size_t len,
                     const char *extra)
{
    /* a cached key nothing re-checked yet: looked up now; refused, the
     * settle replied 401 instead and this reply is dropped */
    if (r->auth_deferred && r->auth_settle != NULL && r->auth_settle(r) != API_OK)
        return API_ERR;
    CM_ASSERT(r->status == 0);
    r->status = status;
    char head[512];
    int n;
    if (len == (size_t)-1)
        n = snprintf(head, sizeof(head),
                     "Status: %d %s\r\nContent-Type: %s\r\nX-Request-Id: %s\r\n", status,
                     status_text(status), ctype, r->request_id ? r->request_id : "-");
    else
        n = snprintf(head, sizeof(head),
                     "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "X-Request-Id: %s\r\n",
                     status, status_text(status), ctype, len, r->request_id ? r->request_id : "-");
    CM_ASSERT(n > 0 && (size_t)n < sizeof(head));
    int rc = out_write(r, head, (size_t)n);
    if (rc == API_OK && extra != NULL)
        rc = out_write(r, extra, strlen(extra));
    if (rc == API_OK)
        rc = out_write(r, "\r\n", 2);
    return rc;
}

int api_reply_text(struct api_req *r, int status, const char *ctype, const char *text, size_t n)
{
    int rc = send_head(r, status, ctype, n, NULL);
    if (rc == API_OK)
        rc = out_write(r, text, n);
    return rc;
}

int api_reply_bytes(struct api_req *r, int status, const char *ctype, const void *data, size_t n,
                    const char *extra_headers)
{
    int rc = send_head(r, status, ctype, n, extra_headers);
    if (rc == API_OK && n > 0)
        rc = out_write(r, data, n);
    return rc;
}

int api_reply_json(struct api_req *r, int status, json_t *body, const char *extra_headers)
{
    if (body == NULL)
        body = json_object();
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (s == NULL) {
        log_error("could not serialise a response body");
        const char fb[] = "{\"error\":{\"code\":\"internal\",\"message\":\"could not serialise the "
                          "response\"}}\n";
        int rc = send_head(r, 500, "application/json", sizeof(fb) - 1, NULL);
        return rc == API_OK ? out_write(r, fb, sizeof(fb) - 1) : rc;
    }
    size_t n = strlen(s);
    int rc = send_head(r, status, "application/json", n + 1, extra_headers);
    if (rc == API_OK)
        rc = out_write(r, s, n);
    if (rc == API_OK)
        rc = out_write(r, "\n", 1);
    free(s);
    return rc;
}

/*
 * Replaces every byte that is not part of well-formed UTF-8, and every
 * control byte, with '?', in place.  Messages quote what the client sent
 * (/v1/jobs/%ff); jansson refuses a string with invalid UTF-8, and the
 * answer was `{}` without a code or request id.
 */
static void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = api_utf8_seq(p);
        if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

/*
 * An error for a request that asked for a stream (see api.h, sse_wanted).
 * The official Node client (moondream 0.2.0) reads a stream without looking
 * at its status and skips every event without a "chunk", so a JSON error
 * body ended its stream empty, as if the model had nothing to say.  It
 * raises only on a "data:" line that is not JSON; so the error goes as an
 * "error" event carrying the JSON error body (for clients that read
 * events), then a bare "data: <code>" line, which that client raises as
 * "... "model_not_installed" is not valid JSON".  Before the stream began,
 * the status is still the error's.  Takes ownership of body.
 */
static int reply_error_sse(struct api_req *r, int status, const char *code, json_t *body,
                           const char *extra)
{
    int rc = API_OK;
    if (!r->streaming) {
        char hdr[128];
        snprintf(hdr, sizeof(hdr), "Cache-Control: no-cache\r\n%s", extra);
        rc = send_head(r, status, "text/event-stream", (size_t)-1, hdr);
        if (rc != API_OK) {
            json_decref(body);
            return rc;
        }
        r->streaming = 1;
    }
    rc = api_sse_event(r, "error", body);
    if (rc == API_OK)
        rc = out_write(r, "data: ", 6);
    if (rc == API_OK)
        rc = out_write(r, code, strlen(code));
    if (rc == API_OK)
        rc = out_write(r, "\n\n", 2);
    if (rc == API_OK && r->out.flush(r->out.u) != 0)
        rc = API_ERR_IO;
    return rc;
}

static int reply_errorv(struct api_req *r, int status, const char *code, int retry_after,
                        const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    utf8_scrub(msg);
    json_t *err = json_pack("{s:s, s:s, s:s}", "code", code, "message", msg, "request_id",
                            r->request_id ? r->request_id : "-");
    json_t *body = json_pack("{s:o}", "error", err);
    char extra[64] = "";
    if (retry_after > 0)
        snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", retry_after);
    if (status == 405)
        snprintf(extra, sizeof(extra), "Allow: %s\r\n", "GET, POST, DELETE");
    if (status == 401)
        snprintf(extra, sizeof(extra), "WWW-Authenticate: Bearer\r\n");
    if (status >= 500)
        log_warn("status=%d code=%s msg=\"%s\"", status, code, msg);
    else
        log_info("status=%d code=%s msg=\"%s\"", status, code, msg);
    if (r->streaming || r->sse_wanted)
        return reply_error_sse(r, status, code, body, extra);
    return api_reply_json(r, status, body, extra[0] ? extra : NULL);
}

int api_reply_error(struct api_req *r, int status, const char *code, int retry_after,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = reply_errorv(r, status, code, retry_after, fmt, ap);
    va_end(ap);
    return rc;
}

int api_err_status(const struct err *e)
{
    static const short status[ERR_CLASS_COUNT] = {
        [ERR_INTERNAL] = 500,  [ERR_INVALID] = 400,      [ERR_UNPROCESSABLE] = 422,
        [ERR_TOO_LARGE] = 413, [ERR_TOO_LONG] = 414,     [ERR_UNSUPPORTED] = 415,
        [ERR_NOT_FOUND] = 404, [ERR_CONFLICT] = 409,     [ERR_AUTH] = 401,
        [ERR_FORBIDDEN] = 403, [ERR_RATE_LIMITED] = 429, [ERR_UNAVAILABLE] = 503,
        [ERR_TIMEOUT] = 504,   [ERR_RESOURCE] = 507,
    };
    if ((unsigned)e->cls >= ERR_CLASS_COUNT || status[e->cls] == 0)
        return 500;
    if (e->cls == ERR_INTERNAL && e->transient)
        return 503;
    return status[e->cls];
}

int api_reply_err(struct api_req *r, const struct err *e)
{
    int status = api_err_status(e);
    const char *code = e->code[0] ? e->code : (status == 503 ? "unavailable" : "internal");
    int retry = (status == 503 || status == 429) ? 1 : 0;
    return api_reply_error(r, status, code, retry, "%s", e->msg[0] ? e->msg : "internal error");
}

int api_sse_begin(struct api_req *r)
{
    if (r->streaming)
        return API_OK;
    int rc = send_head(r, 200, "text/event-stream", (size_t)-1,
                       "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
    r->streaming = 1;
    if (rc == API_OK && r->out.flush(r->out.u) != 0)
        rc = API_ERR_IO;
    return rc;
}

int api_sse_event(struct api_req *r, const char *name, json_t *data)
{
    CM_ASSERT(r->streaming);
    /* name may point into data: data is released only at the end */
    char *s = json_dumps(data, JSON_COMPACT);
    if (s == NULL) {
        json_decref(data);
        return API_ERR;
    }
    int rc = API_OK;
    if (name != NULL) {
        rc = out_write(r, "event: ", 7);
        if (rc == API_OK)
            rc = out_write(r, name, strlen(name));
        if (rc == API_OK)
            rc = out_write(r, "\n", 1);
    }
    if (rc == API_OK)
        rc = out_write(r, "data: ", 6);
    if (rc == API_OK)
        rc = out_write(r, s, strlen(s));
    if (rc == API_OK)
        rc = out_write(r, "\n\n", 2);
    free(s);
    json_decref(data);
    if (rc == API_OK && r->out.flush(r->out.u) != 0)
        rc = API_ERR_IO;
    return rc;
}

int api_sse_comment(struct api_req *r, const char *text)
{
    CM_ASSERT(r->streaming);
    int rc = out_write(r, ": ", 2);
    if (rc == API_OK)
        rc = out_write(r, text, strlen(text));
    if (rc == API_OK)
        rc = out_write(r, "\n\n", 2);
    if (rc == API_OK && r->out.flush(r->out.u) != 0)
        rc = API_ERR_IO;
    return rc;
}

int api_reply_json_text(struct api_req *r, int status, char *json)
{
    size_t n = strlen(json);
    int rc = send_head(r, status, "application/json", n + 1, NULL);
    if (rc == API_OK)
        rc = out_write(r, json, n);
    if (rc == API_OK)
        rc = out_write(r, "\n", 1);
    free(json);
    return rc;
}
