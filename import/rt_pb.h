/*
 * rt_pb.h: a small bounds-checked protocol-buffers wire-format reader, used
 * by the ONNX importer.  It never allocates and never reads outside the
 * buffer it was given: every length is checked against the bytes left
 * before it is used.  Internal to import/.
 */
#ifndef VKV_RT_PB_H
#define VKV_RT_PB_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

enum rt_pb_wire {
    RT_PB_WIRE_VARINT = 0,
    RT_PB_WIRE_I64 = 1,
    RT_PB_WIRE_LEN = 2,
    RT_PB_WIRE_I32 = 5,
};

/* a read cursor over [p, end); borrowed buffer, valid while the buffer is */
struct rt_pb {
    const uint8_t *p, *end;
};

/* one decoded field; data/len are set for LEN fields (borrowed) */
struct rt_pb_field {
    uint32_t num;
    enum rt_pb_wire wire;
    uint64_t v;          /* VARINT, I64 and I32 payloads */
    const uint8_t *data; /* LEN payload */
    size_t len;
};

/* starts a reader over buf[0..len); cannot fail */
void rt_pb_init(struct rt_pb *r, const void *buf, size_t len);

/*
 * Reads the next field.  Returns 1 with *f filled, 0 at the clean end of
 * the buffer, or <0 with e set ("invalid protobuf ...") on a truncated
 * varint, a length past the end, a field number 0 or a group/unknown wire
 * type.
 */
int rt_pb_next(struct rt_pb *r, struct rt_pb_field *f, struct err *e);

/*
 * Packed repeated varints in a LEN payload: counts them (returns the count
 * or <0 on a malformed payload) and reads them into out[0..cap).
 */
long rt_pb_packed_varints(const uint8_t *data, size_t len, int64_t *out, size_t cap, struct err *e);

/* a LEN field as a NUL-terminated string, truncated to cap-1 bytes */
void rt_pb_str(const struct rt_pb_field *f, char *out, size_t cap);

/* float from an I32 field's payload; cannot fail */
float rt_pb_float(const struct rt_pb_field *f);

#endif
