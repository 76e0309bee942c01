/*
 * residual.glsl: the optional residual of CONV2D/DENSE (binding 5, spec
 * RES): y = act(conv + bias + residual[same index]).  When RES is 0 the
 * host binds any valid region and nothing is read.
 */
layout(std430, binding = 5) readonly buffer RBuf { float rdata[]; };
layout(std430, binding = 5) readonly buffer RBuf4 { vec4 rdata4[]; };
float resid(uint i) { return RES != 0 ? rdata[i] : 0.0; }
vec4 resid4(uint i4) { return RES != 0 ? rdata4[i4] : vec4(0.0); }
