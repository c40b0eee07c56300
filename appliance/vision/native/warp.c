/* Affine sampling of uint8 images for the mood loop (see imageops.py for the contract).
 *
 * Output pixel (x, y) samples src at (m0*x + m1*y + m2, m3*x + m4*y + m5): pixel centres
 * at integer coordinates, edges replicated, bilinear with weights in 1/1024ths (within
 * one level of floating point), or nearest neighbour (round half up). src rows are
 * `stride` bytes apart and pixels `ch` bytes apart. Coordinates are clamped before any
 * conversion, so NaN, infinite or huge matrices read only inside src.
 *
 * Output: uint8 with src's channels, uint8 gray (BT.601 in OpenCV's fixed point, from
 * RGB), or float32 value * scale + offset (a model's input tensor, written in place).
 */
#include <stddef.h>
#include <stdint.h>

#define WBITS 10
#define WONE (1 << WBITS)

enum { NEAREST = 1, GRAY = 2 };

static double clampd(double v, double lo, double hi) {
    if (!(v >= lo)) return lo; /* also NaN */
    if (v > hi) return hi;
    return v;
}

static inline int clampi(int v, int hi) { return v < 0 ? 0 : v > hi ? hi : v; }

/* One output row. `ch`, `gray`, `nearest` and `as_float` are constants at each call site,
   so the compiler specialises the loop for them. */
static inline void warp_row(const uint8_t *src, int sh, int sw, ptrdiff_t stride, int ch,
                            void *out, int dw, const double *m, int y, int nearest, int gray,
                            int as_float, float scale, float offset) {
    const int och = gray ? 1 : ch;
    const double xmax = sw - 1, ymax = sh - 1;
    const double rx = m[1] * y + m[2], ry = m[4] * y + m[5];
    uint8_t *o8 = (uint8_t *)out;
    float *of = (float *)out;
    for (int x = 0; x < dw; x++) {
        const double ux = m[0] * x + rx, uy = m[3] * x + ry;
        const int inside = ux >= 0.0 && uy >= 0.0 && ux < xmax && uy < ymax;
        int v[4];
        if (nearest) {
            int ix, iy;
            if (inside) {
                ix = (int)(ux + 0.5);
                iy = (int)(uy + 0.5);
            } else { /* from -1 up, (int)(v + 1) - 1 is floor(v) without a libm call */
                ix = clampi((int)(clampd(ux, -1.0, xmax + 1.0) + 1.5) - 1, sw - 1);
                iy = clampi((int)(clampd(uy, -1.0, ymax + 1.0) + 1.5) - 1, sh - 1);
            }
            const uint8_t *p = src + iy * stride + (ptrdiff_t)ix * ch;
            for (int k = 0; k < ch; k++) v[k] = p[k];
        } else {
            int x0, x1, y0, y1, wx, wy;
            if (inside) { /* all four taps exist: truncation keeps x0 <= sw - 2 */
                const int fx = (int)(ux * WONE), fy = (int)(uy * WONE);
                x0 = fx >> WBITS;
                y0 = fy >> WBITS;
                wx = fx & (WONE - 1);
                wy = fy & (WONE - 1);
                x1 = x0 + 1;
                y1 = y0 + 1;
            } else { /* past the edge by over a pixel, every tap is the edge pixel anyway */
                const double sx = clampd(ux, -1.0, xmax + 1.0);
                const double sy = clampd(uy, -1.0, ymax + 1.0);
                const int fx = (int)(sx + 1.0) - 1, fy = (int)(sy + 1.0) - 1;
                wx = (int)((sx - fx) * WONE + 0.5);
                wy = (int)((sy - fy) * WONE + 0.5);
                x0 = clampi(fx, sw - 1);
                x1 = clampi(fx + 1, sw - 1);
                y0 = clampi(fy, sh - 1);
                y1 = clampi(fy + 1, sh - 1);
            }
            const uint8_t *r0 = src + y0 * stride, *r1 = src + y1 * stride;
            const uint8_t *p00 = r0 + (ptrdiff_t)x0 * ch, *p01 = r0 + (ptrdiff_t)x1 * ch;
            const uint8_t *p10 = r1 + (ptrdiff_t)x0 * ch, *p11 = r1 + (ptrdiff_t)x1 * ch;
            for (int k = 0; k < ch; k++) {
                const int top = p00[k] * (WONE - wx) + p01[k] * wx;
                const int bottom = p10[k] * (WONE - wx) + p11[k] * wx;
                v[k] = (top * (WONE - wy) + bottom * wy + (1 << (2 * WBITS - 1))) >> (2 * WBITS);
            }
        }
        if (gray) v[0] = (v[0] * 4899 + v[1] * 9617 + v[2] * 1868 + 8192) >> 14;
        for (int k = 0; k < och; k++) {
            if (as_float)
                of[(size_t)x * och + k] = v[k] * scale + offset;
            else
                o8[(size_t)x * och + k] = (uint8_t)v[k];
        }
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
