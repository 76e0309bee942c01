/*
 * tf_common.glsl: shared by the transformer kernels (tf_*.comp): GELU
 * variants as in PyTorch (tanh approximation; exact erf) and the flat
 * workgroup index of a grid folded into (x, y) by the host.
 */
float tf_erf(float x)
{
    /* Abramowitz-Stegun 7.1.26, |error| < 1.5e-7 */
    float s = sign(x), a = abs(x);
    float t = 1.0 / (1.0 + 0.3275911 * a);
    float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t +
                     0.254829592) * t * exp(-a * a);
    return s * y;
}

float tf_tanh(float x)
{
    /* tanh() of some drivers overflows for large |x|; this form does not */
    float e2 = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e2) / (1.0 + e2);
}

/* 0 identity, 1 gelu tanh approximation, 2 exact (erf) gelu */
float tf_act(int act, float x)
{
    if (act == 1)
        return 0.5 * x * (1.0 + tf_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    if (act == 2)
        return 0.5 * x * (1.0 + tf_erf(x * 0.70710678118654752));
    return x;
}

uint tf_group()
{
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

uint tf_index()
{
    return tf_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}
