#version 450
/*
 * tf_pool.comp: 2-D adaptive average pooling with PyTorch's bins over
 * channels-last grids [n][h][w][c] -> [n][oh][ow][c]: output row i averages
 * input rows floor(i*h/oh) .. ceil((i+1)*h/oh) - 1, the same for columns.
 * One invocation per output element.  Bindings: 0 x, 1 y.  Push: struct rt_tf_push_pool.
 */
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#include "tf_common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) writeonly buffer YBuf { float y[]; };
layout(push_constant) uniform P { uint n, h, w, c, oh, ow; } p;

void main()
{
    uint idx = tf_index();
    if (idx >= p.n * p.oh * p.ow * p.c)
        return;
    uint ch = idx % p.c, r = idx / p.c;
    uint ox = r % p.ow;
    r /= p.ow;
    uint oy = r % p.oh, b = r / p.oh;
    uint y0 = (oy * p.h) / p.oh, y1 = ((oy + 1u) * p.h + p.oh - 1u) / p.oh;
    uint x0 = (ox * p.w) / p.ow, x1 = ((ox + 1u) * p.w + p.ow - 1u) / p.ow;
    float s = 0.0;
    for (uint yy = y0; yy < y1; yy++)
        for (uint xx = x0; xx < x1; xx++)
            s += x[((b * p.h + yy) * p.w + xx) * p.c + ch];
    y[idx] = s / float((y1 - y0) * (x1 - x0));
}
