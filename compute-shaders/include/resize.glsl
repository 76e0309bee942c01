/*
 * resize.glsl: source coordinates for a resize from `in` to `out` pixels
 * (mirrors rt_ref_resize_src / rt_ref_resize_nearest in runtime/ref/).
 */
float resize_src(uint d, uint n_in, uint n_out, uint align_corners, uint half_pixel)
{
    if (align_corners != 0u)
        return n_out > 1u ? float(d) * float(n_in - 1u) / float(n_out - 1u) : 0.0;
    float scale = float(n_in) / float(n_out);
    if (half_pixel != 0u)
        return max((float(d) + 0.5) * scale - 0.5, 0.0);
    return float(d) * scale;
}

uint resize_nearest(uint d, uint n_in, uint n_out, uint align_corners, uint half_pixel)
{
    float s;
    if (align_corners != 0u)
        s = floor(resize_src(d, n_in, n_out, 1u, 0u) + 0.5);
    else if (half_pixel != 0u)
        s = floor((float(d) + 0.5) * float(n_in) / float(n_out));
    else
        s = floor(float(d) * float(n_in) / float(n_out));
    return uint(clamp(int(s), 0, int(n_in) - 1));
}
