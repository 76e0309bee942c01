/*
 * common.glsl: shared by every shader.  Activation codes equal enum rt_act
 * (runtime/ir/rt_ir.h); the flat invocation index folds a 2-D grid (the host
 * splits dispatches over 65535 workgroups into y).
 */
#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_RELU6 2
#define ACT_SIGMOID 3
#define ACT_TANH 4
#define ACT_HARDSWISH 5
#define ACT_HARDSIGMOID 6
#define ACT_LEAKY 7
#define ACT_ELU 8
#define ACT_GELU 9
#define ACT_CLIP 10
#define ACT_SQRT 11

float erf_approx(float x)
{
    /* Abramowitz-Stegun 7.1.26, |error| < 1.5e-7 */
    float s = sign(x), a = abs(x);
    float t = 1.0 / (1.0 + 0.3275911 * a);
    float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t -
                      0.284496736) * t + 0.254829592) * t * exp(-a * a);
    return s * y;
}

float apply_act(int act, float x, float alpha, float beta)
{
    if (act == ACT_RELU) return max(x, 0.0);
    if (act == ACT_RELU6) return clamp(x, 0.0, 6.0);
    if (act == ACT_SIGMOID) return 1.0 / (1.0 + exp(-x));
    if (act == ACT_TANH) { float e2 = exp(-2.0 * abs(x)); return sign(x) * (1.0 - e2) / (1.0 + e2); }
    if (act == ACT_HARDSWISH) return x * clamp(x + 3.0, 0.0, 6.0) / 6.0;
    if (act == ACT_HARDSIGMOID) return clamp(alpha * x + beta, 0.0, 1.0);
    if (act == ACT_LEAKY) return x < 0.0 ? alpha * x : x;
    if (act == ACT_ELU) return x < 0.0 ? alpha * (exp(x) - 1.0) : x;
    if (act == ACT_GELU) return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
    if (act == ACT_CLIP) return clamp(x, alpha, beta);
    if (act == ACT_SQRT) return sqrt(x);
    return x;
}

uint flat_index()
{
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x +
           gl_LocalInvocationID.x;
}

uint flat_group()
{
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}
