/* Fused CPU inference kernels for gler: a GRU layer direction and small multi-head attention.
 *
 * Both run LANES samples (pixels) at once, one per vector lane: every vector operation works on
 * the same element of LANES samples, so the code is fully vectorised for any layer width, with
 * no horizontal reductions. A sample's whole recurrence (or attention) stays in the L1 cache.
 * GNU C vector extensions keep this portable (AVX2, AVX-512, NEON); gler/kernels/__init__.py
 * compiles it with the system C compiler when first needed and calls it through ctypes.
 *
 * Semantics follow torch.nn.GRU (gate order r, z, n; b_hn inside the reset product) and
 * torch.nn.functional.scaled_dot_product_attention (no mask, no dropout). The only
 * approximation is exp (below), within 2e-7 relative; tests/test_kernels.py compares both
 * kernels with PyTorch.
 *
 * This file is the one declaration of the interface: gler/kernels/__init__.py reads LANES and
 * the parameter lists of the exported functions (the non-static definitions `int name(...)`
 * starting a line, returning 0 or -1) from it, and calls them with one named argument per
 * parameter. Parameters are float pointers, int, int64_t or float. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 8
typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int32_t vi __attribute__((vector_size(4 * LANES)));

static inline vf splat(float a) { return (vf){0} + a; }

static inline vf vmax(vf a, vf b) {
    vi m = a > b;
    return (vf)(((vi)a & m) | ((vi)b & ~m));
}

/* e^x per lane: x = n ln2 + r with |r| <= ln2 / 2, 2^n from the exponent bits and a degree-6
   polynomial for e^r (Cephes expf coefficients); inputs are clamped to [-87.3, 88.7]. */
static inline vf vexp(vf x) {
    x = vmax(x, splat(-87.3f));
    x = -vmax(-x, splat(-88.7f));
    vf t = x * 1.44269504f + 12582912.0f; /* 1.5 * 2^23: round(x / ln2) in the low bits */
    vf n = t - 12582912.0f;
    vi two_n = (((vi)t - 0x4B400000) + 127) << 23;
    vf r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    vf p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * (vf)two_n;
}

static inline vf vsigmoid(vf x) { return 1.0f / (1.0f + vexp(-x)); }

/* tanh(x) = 2 sigmoid(2x) - 1: one exp instead of libm's slower tanh. */
static inline vf vtanh(vf x) { return 2.0f * vsigmoid(2.0f * x) - 1.0f; }

/* y[o] = b[o] + sum_k w[o, k] x[k] for o < rows (w row-major [rows, cols]), 8 rows at a time
   so eight independent accumulators keep both FMA units busy. */
static inline void matvec(const float *w, const float *b, const vf *x, vf *y, int rows, int cols) {
    int o = 0;
    for (; o + 8 <= rows; o += 8) {
        vf a[8];
        for (int u = 0; u < 8; ++u) a[u] = splat(b[o + u]);
        const float *wo = w + (int64_t)o * cols;
        for (int k = 0; k < cols; ++k) {
            vf xk = x[k];
            for (int u = 0; u < 8; ++u) a[u] += wo[u * cols + k] * xk;
        }
        for (int u = 0; u < 8; ++u) y[o + u] = a[u];
    }
    for (; o < rows; ++o) {
        vf a = splat(b[o]);
        for (int k = 0; k < cols; ++k) a += w[(int64_t)o * cols + k] * x[k];
        y[o] = a;
    }
}

static void *alloc_lanes(int64_t count) {
    return aligned_alloc(sizeof(vf), (size_t)count * sizeof(vf));
}

#ifdef __clang__
#define SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUFFLE(a, b, ...) __builtin_shuffle(a, b, (vi){__VA_ARGS__})
#endif

/* r[l][c] -> r[c][l] for an 8 x 8 tile, in registers (unpack, shuffle, 128-bit swap). */
static inline void transpose8(vf r[8]) {
    vf t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = SHUFFLE(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = SHUFFLE(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; ++j) {
            u[i + 2 * j] = SHUFFLE(t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * j + 1] = SHUFFLE(t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int i = 0; i < 4; ++i) {
        r[i] = SHUFFLE(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        r[i + 4] = SHUFFLE(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/* lanes[c][l] = rows[l][c] for c < width: row-major samples to lane-major vectors. */
static void gather_rows(const float *const rows[LANES], int width, vf *lanes) {
    int c = 0;
    for (; c + LANES <= width; c += LANES) {
        vf r[LANES];
        for (int l = 0; l < LANES; ++l) memcpy(&r[l], rows[l] + c, sizeof(vf));
        transpose8(r);
        memcpy(lanes + c, r, sizeof r);
    }
    for (; c < width; ++c)
        for (int l = 0; l < LANES; ++l) lanes[c][l] = rows[l][c];
}

/* rows[l][c] = lanes[c][l] for c < width and the first nb samples: the inverse. */
static void scatter_rows(const vf *lanes, int width, float *const rows[LANES], int nb) {
    int c = 0;
    for (; c + LANES <= width; c += LANES) {
        vf r[LANES];
        memcpy(r, lanes + c, sizeof r);
        transpose8(r);
        for (int l = 0; l < nb; ++l) memcpy(rows[l] + c, &r[l], sizeof(vf));
    }
    for (; c < width; ++c)
        for (int l = 0; l < nb; ++l) rows[l][c] = lanes[c][l];
}

/* One direction of one GRU layer, zero initial state.
 *   x    [B, L, D] input;  w_ih [3H, D], b_ih [3H], w_hh [3H, H], b_hh [3H] (torch layout)
 *   out  [B, L, out_width] (or NULL): this direction's outputs at columns out_offset..+H
 *   hn   [B, H] final state
 * Returns 0, or -1 if memory for the work buffers could not be allocated. */
int gru_direction(const float *x, int64_t B, int L, int D, const float *w_ih, const float *b_ih,
                  const float *w_hh, const float *b_hh, int H, int reverse, float *out,
                  int out_width, int out_offset, float *hn) {
    const int G = 3 * H;
    vf *xs = alloc_lanes((int64_t)L * D + 2 * G + H);
    if (!xs) return -1;
    vf *gi = xs + (int64_t)L * D, *gh = gi + G, *h = gh + G;
    for (int64_t b0 = 0; b0 < B; b0 += LANES) {
        const int nb = B - b0 < LANES ? (int)(B - b0) : LANES;
        const float *rows[LANES]; /* lanes past the batch repeat its first sample */
        float *y[LANES], *last[LANES];
        for (int l = 0; l < LANES; ++l) {
            const int64_t b = b0 + (l < nb ? l : 0);
            rows[l] = x + b * L * D;
            last[l] = hn + b * H;
        }
        gather_rows(rows, L * D, xs); /* the block's whole input: [L, D] vectors */
        memset(h, 0, sizeof(vf) * H);
        for (int s = 0; s < L; ++s) {
            const int t = reverse ? L - 1 - s : s;
            matvec(w_ih, b_ih, xs + (int64_t)t * D, gi, G, D);
            matvec(w_hh, b_hh, h, gh, G, H);
            for (int j = 0; j < H; ++j) {
                vf r = vsigmoid(gi[j] + gh[j]);
                vf z = vsigmoid(gi[H + j] + gh[H + j]);
                vf n = vtanh(gi[2 * H + j] + r * gh[2 * H + j]);
                h[j] = n + z * (h[j] - n);
            }
            if (out) {
                for (int l = 0; l < LANES; ++l)
                    y[l] = out + ((b0 + (l < nb ? l : 0)) * L + t) * out_width + out_offset;
                scatter_rows(h, H, y, nb);
            }
        }
        scatter_rows(h, H, last, nb);
    }
    free(xs);
    return 0;
}

/* Multi-head scaled dot-product attention of projected queries, keys and values.
 *   q [B, Lq, N * d]; k, v [B, Lk, N * d], or [1, Lk, N * d] shared by the batch
 *   (kv_batch_stride 0, otherwise Lk * N * d); out [B, Lq, N * d] (heads side by side)
 * Returns 0, or -1 if memory for the work buffers could not be allocated. */
int attention(const float *q, const float *k, const float *v, float *out, int64_t B, int Lq,
              int Lk, int N, int d, float scale, int64_t kv_batch_stride) {
    const int D = N * d;
    const int shared = kv_batch_stride == 0;
    const int64_t per_head = (int64_t)Lk * d, kv = per_head * (shared ? N : 1);
    vf *qh = alloc_lanes((int64_t)Lq * d + 2 * kv + Lk + d);
    if (!qh) return -1;
    vf *kh = qh + (int64_t)Lq * d, *vh = kh + kv, *s = vh + kv, *acc = s + Lk;
    if (shared) /* one set of keys and values for every sample: all heads, once */
        for (int n = 0; n < N; ++n)
            for (int j = 0; j < Lk; ++j)
                for (int c = 0; c < d; ++c) {
                    kh[n * per_head + (int64_t)j * d + c] = splat(k[(int64_t)j * D + n * d + c]);
                    vh[n * per_head + (int64_t)j * d + c] = splat(v[(int64_t)j * D + n * d + c]);
                }
    for (int64_t b0 = 0; b0 < B; b0 += LANES) {
        const int nb = B - b0 < LANES ? (int)(B - b0) : LANES;
        for (int n = 0; n < N; ++n) {
            const float *qrow[LANES], *krow[LANES], *vrow[LANES];
            for (int i = 0; i < Lq; ++i) {
                for (int l = 0; l < LANES; ++l) /* lanes past the batch repeat its first sample */
                    qrow[l] = q + ((b0 + (l < nb ? l : 0)) * Lq + i) * D + n * d;
                gather_rows(qrow, d, qh + (int64_t)i * d);
            }
            for (int e = 0; e < Lq * d; ++e) qh[e] *= scale;
            if (!shared)
                for (int j = 0; j < Lk; ++j) {
                    for (int l = 0; l < LANES; ++l) {
                        const int64_t at = (b0 + (l < nb ? l : 0)) * kv_batch_stride + (int64_t)j * D + n * d;
                        krow[l] = k + at;
                        vrow[l] = v + at;
                    }
                    gather_rows(krow, d, kh + (int64_t)j * d);
                    gather_rows(vrow, d, vh + (int64_t)j * d);
                }
            const vf *kn = kh + (shared ? n * per_head : 0), *vn = vh + (shared ? n * per_head : 0);
            for (int i = 0; i < Lq; ++i) {
                const vf *qi = qh + (int64_t)i * d;
                vf m = splat(-3.0e38f);
                for (int j = 0; j < Lk; ++j) {
                    vf a = {0};
                    for (int c = 0; c < d; ++c) a += qi[c] * kn[(int64_t)j * d + c];
                    s[j] = a;
                    m = vmax(m, a);
                }
                vf total = {0};
                for (int c = 0; c < d; ++c) acc[c] = (vf){0};
                for (int j = 0; j < Lk; ++j) {
                    vf p = vexp(s[j] - m);
                    total += p;
                    for (int c = 0; c < d; ++c) acc[c] += p * vn[(int64_t)j * d + c];
                }
                vf inv = 1.0f / total;
                float *orow[LANES];
                for (int c = 0; c < d; ++c) acc[c] *= inv;
                for (int l = 0; l < LANES; ++l)
                    orow[l] = out + ((b0 + (l < nb ? l : 0)) * Lq + i) * D + n * d;
                scatter_rows(acc, d, orow, nb);
            }
        }
    }
    free(qh);
    return 0;
}
