/*
 * rt_pb.c: bounds-checked protobuf wire-format reader (see rt_pb.h).
 *
 * Design: a cursor over a borrowed byte range.  Each read checks the bytes
 * left before touching them; lengths are 64-bit varints compared against
 * the remaining size, so a hostile length can neither wrap a pointer nor
 * run past the end.  Higher layers (rt_import_onnx.c) give meaning to field
 * numbers.  See import/README.md.
 */
#include "import/rt_pb.h"

#include <string.h>

#define RT_PB_ERR (-1)

void rt_pb_init(struct rt_pb *r, const void *buf, size_t len)
{
    r->p = buf;
    r->end = r->p + len;
}

static int pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

/*
 * Reads one field from r into f.  Returns 1, 0 at the end, or RT_PB_ERR
 * with e set.  Not thread-safe on one reader; readers are cheap to copy.
 */
int rt_pb_next(struct rt_pb *r, struct rt_pb_field *f, struct err *e)
{
    uint64_t key, len;
    size_t left;

    if (r->p >= r->end)
        return 0;
    if (pb_varint(&r->p, r->end, &key) < 0)
        return err_set(e, RT_PB_ERR, ERR_INVALID, "invalid_model",
                       "invalid protobuf: truncated field key");
    memset(f, 0, sizeof(*f));
    f->num = (uint32_t)(key >> 3);
    f->wire = (enum rt_pb_wire)(key & 7);
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return err_set(e, RT_PB_ERR, ERR_INVALID, "invalid_model",
                       "invalid protobuf: field number %llu", (unsigned long long)(key >> 3));
    left = (size_t)(r->end - r->p);
    switch (f->wire) {
    case RT_PB_WIRE_VARINT:
        if (pb_varint(&r->p, r->end, &f->v) < 0)
            return err_set(e, RT_PB_ERR, ERR_INVALID, "invalid_model",
                           "invalid protobuf: truncated varint in field %u", f->num);
        return 1;
    case RT_PB_WIRE_I64:
        if (left < 8)
            return err_set(e, RT_PB_ERR, ERR_INVALID, "invalid_model",
                           "invalid protobuf: truncated fixed64 in field %u", f->num);
        for (int i = 7; i >= 0; i--)
            f->v = (f->v << 8) | r->p[i];
        r->p += 8;
        return 1;
    case RT_PB_WIRE_I32:
        if (left < 4)
            return err_set(e, RT_PB_ERR, ERR_INVALID, "invalid_model",
                           "invalid protobuf: truncated fixed32 in field %u", f->num);
        f->v = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 | (uint64_t)r->p[2] << 16 |
               (uint64_t)r->p[3] << 24;
        r->p += 4;
        return 1;
    case RT_PB_WIRE_LEN:
        if (pb_varint(&r->p, r->end, &len) < 0)
            return err_set(e, RT_PB_ERR, ERR_INVALID, "invalid_model",
                           "invalid protobuf: truncated length in field %u", f->num);
        left = (size_t)(r->end - r->p);
        if (len > left)
            return err_set(e, RT_PB_ERR, ERR_INVALID, "invalid_model",
                           "invalid protobuf: field %u length %llu exceeds "
                           "the %zu bytes left",
                           f->num, (unsigned long long)len, left);
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    default:
        return err_set(e, RT_PB_ERR, ERR_INVALID, "invalid_model",
                       "invalid protobuf: unsupported wire type %d in field %u", (int)f->wire,
                       f->num);
    }
}

/*
 * Decodes packed varints; returns how many there are (even beyond cap; only
 * the first cap are stored) or RT_PB_ERR with e set.
 */
long rt_pb_packed_varints(const uint8_t *data, size_t len, int64_t *out, size_t cap, struct err *e)
{
    const uint8_t *p = data, *end = data + len;
    long n = 0;

    while (p < end) {
        uint64_t v;
        if (pb_varint(&p, end, &v) < 0)
            return err_set(e, RT_PB_ERR, ERR_INVALID, "invalid_model",
                           "invalid protobuf: truncated packed varint");
        if ((size_t)n < cap)
            out[n] = (int64_t)v;
        n++;
    }
    return n;
}

void rt_pb_str(const struct rt_pb_field *f, char *out, size_t cap)
{
    size_t n = f->len < cap - 1 ? f->len : cap - 1;

    if (n)
        memcpy(out, f->data, n);
    out[n] = '\0';
}

float rt_pb_float(const struct rt_pb_field *f)
{
    uint32_t u = (uint32_t)f->v;
    float x;

    memcpy(&x, &u, 4);
    return x;
}
