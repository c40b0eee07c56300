/* Affine sampling of uint8 images for the mood loop (see imageops.py for the contract).
 *
 * Output pixel (x, y) samples src at (m0*x + m1*y + m2, m3*x + m4*y + m5): pixel centres
 * at integer coordinates, edges replicated, bilinear with weights in 1/1024ths (within
 * one level of floating point), or nearest neighbour (round half up). src rows are
 * `stride` bytes apart and pixels `ch` bytes apart. Where a row's taps all lie inside src
 * it steps in fixed point; elsewhere coordinates are clamped before any conversion, so
 * NaN, infinite or huge matrices read only inside src.
 *
 * Output: uint8 with src's channels, uint8 gray (BT.601 in OpenCV's fixed point, from
 * RGB), or float32 value * scale + offset (a model's input tensor, written in place).
 */
#include <stddef.h>
#include <stdint.h>

#define WBITS 10
#define WONE (1 << WBITS)
/* The row loop is specialised per call site only if it is inlined there. */
#define ALWAYS_INLINE __attribute__((always_inline))

enum { NEAREST = 1, GRAY = 2 };

static double clampd(double v, double lo, double hi) {
    if (!(v >= lo)) return lo; /* also NaN */
    if (v > hi) return hi;
    return v;
}

static inline int clampi(int v, int hi) { return v < 0 ? 0 : v > hi ? hi : v; }

/* Columns [*lo, *hi) of a row whose source coordinate a*x + b lies in [eps, lim - eps],
   with a column of slack each side; empty when none do or the numbers are not sane.
   eps absorbs the fixed-point stepping's drift: under 2^-26 px a column, 2^-6 at most. */
static void span(double a, double b, double lim, int dw, int *lo, int *hi) {
    const double eps = 1.0 / 32;
    double l, h;
    *lo = *hi = 0;
    if (!(a > -1e6 && a < 1e6 && b > -1e9 && b < 1e9) || lim <= 2 * eps || dw > (1 << 20))
        return;
    if (a > 1e-9) {
        l = (eps - b) / a;
        h = (lim - eps - b) / a;
    } else if (a < -1e-9) {
        l = (lim - eps - b) / a;
        h = (eps - b) / a;
    } else if (b >= eps && b <= lim - eps) {
        l = 0.0;
        h = dw;
    } else {
        return;
    }
    l += 1.0;
    h -= 1.0;
    const int il = l <= 0.0 ? 0 : l >= dw ? dw : (int)l + 1; /* > ceil: stays inside */
    const int ih = h < 0.0 ? -1 : h >= dw - 1 ? dw - 1 : (int)h;
    if (ih >= il) {
        *lo = il;
        *hi = ih + 1;
    }
}

/* Write one pixel's values (typed pointers: the compiler keeps the stores cheap). */
#define STORE(x)                                                                \
    do {                                                                        \
        for (int k = 0; k < och; k++) {                                         \
            if (as_float)                                                       \
                of[(size_t)(x) * och + k] = v[k] * scale + offset;              \
            else                                                                \
                o8[(size_t)(x) * och + k] = (uint8_t)v[k];                      \
        }                                                                       \
    } while (0)

static inline ALWAYS_INLINE void blend(const uint8_t *r0, const uint8_t *r1, int x0, int x1, int wx, int wy,
                         int ch, int gray, int *v) {
    const uint8_t *p00 = r0 + (ptrdiff_t)x0 * ch, *p01 = r0 + (ptrdiff_t)x1 * ch;
    const uint8_t *p10 = r1 + (ptrdiff_t)x0 * ch, *p11 = r1 + (ptrdiff_t)x1 * ch;
    for (int k = 0; k < ch; k++) {
        const int top = p00[k] * (WONE - wx) + p01[k] * wx;
        const int bottom = p10[k] * (WONE - wx) + p11[k] * wx;
        v[k] = (top * (WONE - wy) + bottom * wy + (1 << (2 * WBITS - 1))) >> (2 * WBITS);
    }
    if (gray) v[0] = (v[0] * 4899 + v[1] * 9617 + v[2] * 1868 + 8192) >> 14;
}

/* Any pixel, however far off the image or broken its coordinates: clamped first. */
static inline ALWAYS_INLINE void sample_any(const uint8_t *src, int sh, int sw, ptrdiff_t stride, int ch,
                              double ux, double uy, int nearest, int gray, int *v) {
    const double xmax = sw - 1, ymax = sh - 1;
    /* Past the edge by over a pixel, every tap is the edge pixel anyway; from -1 up,
       (int)(v + 1) - 1 is floor(v) without a libm call. */
    const double sx = clampd(ux, -1.0, xmax + 1.0), sy = clampd(uy, -1.0, ymax + 1.0);
    if (nearest) {
        const int ix = clampi((int)(sx + 1.5) - 1, sw - 1);
        const int iy = clampi((int)(sy + 1.5) - 1, sh - 1);
        const uint8_t *p = src + iy * stride + (ptrdiff_t)ix * ch;
        for (int k = 0; k < ch; k++) v[k] = p[k];
        if (gray) v[0] = (v[0] * 4899 + v[1] * 9617 + v[2] * 1868 + 8192) >> 14;
        return;
    }
    const int fx = (int)(sx + 1.0) - 1, fy = (int)(sy + 1.0) - 1;
    const int wx = (int)((sx - fx) * WONE + 0.5), wy = (int)((sy - fy) * WONE + 0.5);
    blend(src + clampi(fy, sh - 1) * stride, src + clampi(fy + 1, sh - 1) * stride,
          clampi(fx, sw - 1), clampi(fx + 1, sw - 1), wx, wy, ch, gray, v);
}

/* Fixed point for the inside of a row: 26 fractional bits, stepped by integer adds. */
#define FBITS 26

/* One output row. `ch`, `gray`, `nearest` and `as_float` are constants at each call site,
   so the compiler specialises the loop for them. */
static inline ALWAYS_INLINE void warp_row(const uint8_t *src, int sh, int sw, ptrdiff_t stride, int ch,
                            void *out, int dw, const double *m, int y, int nearest, int gray,
                            int as_float, float scale, float offset) {
    const int och = gray ? 1 : ch;
    const double rx = m[1] * y + m[2], ry = m[4] * y + m[5];
    uint8_t *o8 = (uint8_t *)out;
    float *of = (float *)out;
    int lo, hi, lo2, hi2, v[4];
    /* Columns whose every tap lies inside src (x0 + 1 <= sw - 1, y0 + 1 <= sh - 1). */
    span(m[0], rx, sw - 1, dw, &lo, &hi);
    span(m[3], ry, sh - 1, dw, &lo2, &hi2);
    if (lo2 > lo) lo = lo2;
    if (hi2 < hi) hi = hi2;
    if (hi < lo) hi = lo;
    for (int x = 0; x < lo; x++) {
        sample_any(src, sh, sw, stride, ch, m[0] * x + rx, m[3] * x + ry, nearest, gray, v);
        STORE(x);
    }
    if (lo < hi) {
        const double one = (double)(1LL << FBITS);
        int64_t X = (int64_t)((m[0] * lo + rx) * one), Y = (int64_t)((m[3] * lo + ry) * one);
        const int64_t dX = (int64_t)(m[0] * one), dY = (int64_t)(m[3] * one);
        const int64_t half = nearest ? (1LL << (FBITS - 1)) : 0;
        for (int x = lo; x < hi; x++, X += dX, Y += dY) {
            const int x0 = (int)((X + half) >> FBITS), y0 = (int)((Y + half) >> FBITS);
            if (nearest) {
                const uint8_t *p = src + y0 * stride + (ptrdiff_t)x0 * ch;
                for (int k = 0; k < ch; k++) v[k] = p[k];
                if (gray) v[0] = (v[0] * 4899 + v[1] * 9617 + v[2] * 1868 + 8192) >> 14;
            } else {
                const int wx = (int)(X >> (FBITS - WBITS)) & (WONE - 1);
                const int wy = (int)(Y >> (FBITS - WBITS)) & (WONE - 1);
                const uint8_t *r0 = src + y0 * stride;
                blend(r0, r0 + stride, x0, x0 + 1, wx, wy, ch, gray, v);
            }
            STORE(x);
        }
    }
    for (int x = hi; x < dw; x++) {
        sample_any(src, sh, sw, stride, ch, m[0] * x + rx, m[3] * x + ry, nearest, gray, v);
        STORE(x);
    }
}

static int check(const uint8_t *src, int sh, int sw, int ch, const void *dst, int dh, int dw,
                 const double *m, int flags) {
    if (!src || !dst || !m || sh < 1 || sw < 1 || ch < 1 || ch > 4 || dh < 0 || dw < 0)
        return -1;
    if ((flags & GRAY) && ch != 3) return -1;
    return 0;
}

/* Dispatch on the constants warp_row specialises for (ch 1 and 3 are the ones in use). */
#define ROWS(AS_FLOAT, OUT_T, SCALE, OFFSET)                                                  \
    do {                                                                                      \
        const int nearest = flags & NEAREST, gray = (flags & GRAY) != 0;                      \
        const int och = gray ? 1 : ch;                                                        \
        for (int y = 0; y < dh; y++) {                                                        \
            OUT_T *row = dst + (size_t)y * dw * och;                                          \
            if (gray)                                                                         \
                warp_row(src, sh, sw, stride, 3, row, dw, m, y, 0, 1, AS_FLOAT, SCALE, OFFSET); \
            else if (ch == 3 && nearest)                                                      \
                warp_row(src, sh, sw, stride, 3, row, dw, m, y, 1, 0, AS_FLOAT, SCALE, OFFSET); \
            else if (ch == 3)                                                                 \
                warp_row(src, sh, sw, stride, 3, row, dw, m, y, 0, 0, AS_FLOAT, SCALE, OFFSET); \
            else if (ch == 1)                                                                 \
                warp_row(src, sh, sw, stride, 1, row, dw, m, y, nearest, 0, AS_FLOAT, SCALE,   \
                         OFFSET);                                                             \
            else                                                                              \
                warp_row(src, sh, sw, stride, ch, row, dw, m, y, nearest, 0, AS_FLOAT, SCALE,  \
                         OFFSET);                                                             \
        }                                                                                     \
    } while (0)

/* flags: 1 nearest neighbour, 2 gray output from RGB. dst: dh x dw x channels, packed. */
int mooddj_warp_affine_u8(const uint8_t *src, int sh, int sw, ptrdiff_t stride, int ch,
                          uint8_t *dst, int dh, int dw, const double *m, int flags) {
    if (check(src, sh, sw, ch, dst, dh, dw, m, flags)) return -1;
    ROWS(0, uint8_t, 1.0f, 0.0f);
    return 0;
}

/* As above, writing float32 sample * scale + offset: straight into a model's input. */
int mooddj_warp_affine_f32(const uint8_t *src, int sh, int sw, ptrdiff_t stride, int ch,
                           float *dst, int dh, int dw, const double *m, int flags,
                           float scale, float offset) {
    if (check(src, sh, sw, ch, dst, dh, dw, m, flags)) return -1;
    ROWS(1, float, scale, offset);
    return 0;
}
