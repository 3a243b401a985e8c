/* BatchNorm + mixing kernels for the fused NB201 cell (diffnas/native/mix.py states the formulas).
 *
 * Every tensor is float32 in NHWC order, seen as P rows (pixels, P = N*H*W) of channels:
 *   Y_j     conv output j of the source node, K = D*C channels (block m = edge m's C channels);
 *   acc_m   destination node m's running sum, C channels (NULL = 0);
 *   F_f     parameter-free op f's output, C channels;
 *   g_m     the gradient of destination m's new sum, C channels.
 * Each thread takes one contiguous range of rows (the same split for the same thread count).
 * Reductions keep float partial sums over at most ROWS rows, then add them into double per-thread
 * sums, combined in thread order: the result depends on the thread count only, never on timing.
 * The mixing's row loops are specialised for the usual channel counts (C known at compile time, so the
 * short per-pixel loops vectorise without remainder code); the pooling's are contiguous passes over a
 * whole image row, which vectorise for any channel count.
 * Built by diffnas/native/build.py with the system C compiler and -fopenmp; inside a torch process
 * the loader resolves libgomp to torch's own copy, so both share one OpenMP runtime.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#define ROWS 64   /* rows per float partial sum (bn_stats) */
#define TILE 64   /* rows per tile of the mixing passes; reductions flush to double once a tile */
#define INLINE static inline __attribute__((always_inline))

/* Calls BODY(c) with c a compile-time constant for the usual channel counts. */
#define WITH_C(C, BODY)                                                                 \
    switch (C) {                                                                        \
    case 4: BODY(4); break;   case 8: BODY(8); break;   case 16: BODY(16); break;        \
    case 32: BODY(32); break; case 64: BODY(64); break; default: BODY(C); break;         \
    }

/* Per-thread scratch: each thread's block starts on its own 64-byte cache line (no false sharing
 * between threads updating their partial sums). stride = floats per thread, a multiple of 16. */
INLINE long line_stride(long n) { return (n + 15) / 16 * 16; }

static float *thread_scratch(int nt, long stride) {
    float *p = aligned_alloc(64, sizeof(float) * (size_t)nt * stride);
    if (p) memset(p, 0, sizeof(float) * (size_t)nt * stride);
    return p;
}

INLINE void row_range(long P, long *p0, long *p1) {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    long chunk = (P + T - 1) / T;
    *p0 = (long)t * chunk;
    *p1 = *p0 + chunk < P ? *p0 + chunk : P;
    if (*p0 > P) *p0 = P;
}

INLINE void flush(float *acc, double *dst, long width) {
    for (long k = 0; k < width; k++) { dst[k] += acc[k]; acc[k] = 0.f; }
}

static void reduce_threads(const double *partial, int nt, long width, double *out) {
    for (long k = 0; k < width; k++) {
        double s = 0.0;
        for (int t = 0; t < nt; t++) s += partial[(size_t)t * width + k];
        out[k] = s;
    }
}

/* Per-channel sums of y − y[0] (the first row as a shift) and of its square over rows [p0, p1) of y's
 * K channels: float partial sums s, q over at most ROWS rows, flushed into the thread's doubles dst. */
INLINE void stats_rows(const float *y, long K, long p0, long p1, float *s, double *dst) {
    float *q = s + K;
    int n = 0;
    for (long p = p0; p < p1; p++) {
        const float *r = y + p * K;
        for (long k = 0; k < K; k++) {
            const float d = r[k] - y[k];
            s[k] += d;
            q[k] += d * d;
        }
        if (++n == ROWS) { flush(s, dst, 2 * K); n = 0; }
    }
    flush(s, dst, 2 * K);
}

/* mean[k], rstd[k] = 1/sqrt(var[k] + eps) from the threads' sums (combined in thread order):
 * var = E[(y−y0)²] − E[y−y0]², which does not cancel catastrophically when |mean| is much larger than
 * the spread. With no rows (P = 0) there is no y0 and both are NaN, as torch.var_mean's. */
static void stats_finish(const double *partial, int nt, long P, long K, const float *y, float eps,
                         double *total, float *mean, float *rstd) {
    reduce_threads(partial, nt, 2 * K, total);
    for (long k = 0; k < K; k++) {
        double m = total[k] / (double)P, v = total[K + k] / (double)P - m * m;
        if (v < 0.0) v = 0.0;
        mean[k] = (float)((P > 0 ? (double)y[k] : 0.0) + m);
        rstd[k] = (float)(1.0 / sqrt(v + (double)eps));
    }
}

/* mean[k], rstd[k] of y's K channels over its P rows (biased variance). */
int bn_stats(const float *y, long P, long K, float eps, int nt, float *mean, float *rstd) {
    double *partial = calloc((size_t)nt * 2 * K, sizeof(double)), *total = malloc(sizeof(double) * 2 * K);
    const long stride = line_stride(2 * K);
    float *scratch = thread_scratch(nt, stride);
    if (!partial || !total || !scratch) { free(partial); free(total); free(scratch); return 1; }
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        long p0, p1;
        row_range(P, &p0, &p1);
        stats_rows(y, K, p0, p1, scratch + (size_t)t * stride, partial + (size_t)t * 2 * K);
    }
    stats_finish(partial, nt, P, K, y, eps, total, mean, rstd);
    free(partial); free(total); free(scratch);
    return 0;
}

INLINE void forward_rows(long p0, long p1, const long C, long D, long nconv, long nfree,
                         const float **acc, const float **Y, const float **a, const float *mean,
                         const float **F, const float *W, float **out) {
    const long K = D * C;
    float v[C];  /* one output row, in registers for the specialised channel counts */
    for (long p = p0; p < p1; p++) {
        for (long m = 0; m < D; m++) {
            if (acc[m]) {
                const float *ac = acc[m] + p * C;
                for (long c = 0; c < C; c++) v[c] = ac[c];
            } else {
                for (long c = 0; c < C; c++) v[c] = 0.f;
            }
            for (long j = 0; j < nconv; j++) {
                const float *yy = Y[j] + p * K + m * C, *aa = a[j] + m * C, *mu = mean + j * K + m * C;
                for (long c = 0; c < C; c++) v[c] += aa[c] * (yy[c] - mu[c]);
            }
            for (long f = 0; f < nfree; f++) {
                const float *ff = F[f] + p * C;
                const float w = W[m * nfree + f];
                for (long c = 0; c < C; c++) v[c] += w * ff[c];
            }
            float *o = out[m] + p * C;
            for (long c = 0; c < C; c++) o[c] = v[c];
        }
    }
}

/* Statistics of every conv output, then out_m[p, c] = acc_m[p, c] + Σ_j a_j[k]·(Y_j[p, k] − mean_j[k])
 * + Σ_f W[m, f]·F_f[p, c] with k = mC+c, a_j[k] = S[m, j]·rstd_j[k] (centred on the mean, so nothing
 * cancels when |mean| is much larger than the spread). S: D × nconv op weights of the conv ops, W:
 * D × nfree of the parameter-free ones; mean and rstd (nconv rows of K) are written for the backward. */
int mix_forward(long P, long C, long D, long nconv, long nfree, int nt, float eps,
                const float **acc, const float **Y, const float *S, const float **F, const float *W,
                float **out, float *mean, float *rstd) {
    const long K = D * C, nj = nconv > 0 ? nconv : 1;
    const long stride = line_stride(2 * K);
    float *coef = malloc(sizeof(float) * nj * K);  /* a_j rows */
    double *partial = calloc((size_t)nj * nt * 2 * K, sizeof(double));  /* [j][thread][2K] */
    double *total = malloc(sizeof(double) * 2 * K);
    float *scratch = thread_scratch(nt, stride);
    if (!coef || !partial || !total || !scratch) { free(coef); free(partial); free(total); free(scratch); return 1; }
    const float *a[nj];
    for (long j = 0; j < nconv; j++) a[j] = coef + j * K;
    /* one parallel region (each one costs a wake-up of the other threads): statistics of every Y_j over
     * the thread's rows, then (one thread) the coefficients, then the mixing of the same rows */
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        long p0, p1;
        row_range(P, &p0, &p1);
        for (long j = 0; j < nconv; j++) {
            float *sc = scratch + (size_t)t * stride;
            memset(sc, 0, sizeof(float) * 2 * K);
            stats_rows(Y[j], K, p0, p1, sc, partial + ((size_t)j * nt + t) * 2 * K);
        }
        #pragma omp barrier
        #pragma omp single
        for (long j = 0; j < nconv; j++) {
            stats_finish(partial + (size_t)j * nt * 2 * K, nt, P, K, Y[j], eps, total, mean + j * K, rstd + j * K);
            for (long k = 0; k < K; k++) coef[j * K + k] = S[(k / C) * nconv + j] * rstd[j * K + k];
        }
#define FWD(c) forward_rows(p0, p1, c, D, nconv, nfree, acc, Y, a, mean, F, W, out)
        WITH_C(C, FWD)
#undef FWD
    }
    free(coef); free(partial); free(total); free(scratch);
    return 0;
}

/* acc layout (width = K + nconv*K + D*nfree*C): sg[K], sgy[j][K] = Σ g·(Y_j − mean_j), dots[m][f][C]
 * (summed over c later). */
INLINE void reduce_rows(long p0, long p1, const long C, long D, long nconv, long nfree,
                        const float **g, const float **Y, const float *mean, const float **F, const float *W,
                        float **gfree, float *acc, double *dst, long width) {
    const long K = D * C;
    float u[C], v[C], mu[C];  /* local: the compiler keeps them in registers, no aliasing to rule out */
    for (long t0 = p0; t0 < p1; t0 += TILE) {
        const long T = t0 + TILE < p1 ? TILE : p1 - t0;
        for (long m = 0; m < D; m++) {
            const float *gm = g[m] + t0 * C;
            for (long c = 0; c < C; c++) u[c] = 0.f;
            for (long p = 0; p < T; p++)
                for (long c = 0; c < C; c++) u[c] += gm[p * C + c];
            for (long c = 0; c < C; c++) acc[m * C + c] += u[c];
            for (long j = 0; j < nconv; j++) {
                const float *yy = Y[j] + t0 * K + m * C;
                for (long c = 0; c < C; c++) { u[c] = 0.f; mu[c] = mean[j * K + m * C + c]; }
                for (long p = 0; p < T; p++)
                    for (long c = 0; c < C; c++) u[c] += gm[p * C + c] * (yy[p * K + c] - mu[c]);
                for (long c = 0; c < C; c++) acc[K + j * K + m * C + c] += u[c];
            }
            for (long f = 0; f < nfree; f++) {
                const float *ff = F[f] + t0 * C;
                for (long c = 0; c < C; c++) u[c] = 0.f;
                for (long p = 0; p < T; p++)
                    for (long c = 0; c < C; c++) u[c] += gm[p * C + c] * ff[p * C + c];
                for (long c = 0; c < C; c++) acc[K + nconv * K + (m * nfree + f) * C + c] += u[c];
            }
        }
        for (long f = 0; f < nfree; f++) {
            float *o = gfree[f] + t0 * C;
            for (long p = 0; p < T; p++) {
                const float *g0 = g[0] + (t0 + p) * C;
                for (long c = 0; c < C; c++) v[c] = W[f] * g0[c];
                for (long m = 1; m < D; m++) {
                    const float w = W[m * nfree + f];
                    const float *gm = g[m] + (t0 + p) * C;
                    for (long c = 0; c < C; c++) v[c] += w * gm[c];
                }
                for (long c = 0; c < C; c++) o[p * C + c] = v[c];
            }
        }
        flush(acc, dst, width);
    }
}

INLINE void conv_rows(long p0, long p1, const long C, long D, long nconv, const float **g, const float **Y,
                      const float *mean, const float **alpha, const float **beta, const float **gamma, float **gY) {
    const long K = D * C;
    /* local copies of the coefficients and restrict-qualified rows: no aliasing with the output to rule
     * out, and the row written directly (a temporary row here made gcc emit shuffled scalar code at 16
     * channels on AVX-512: 3x this pass's time) */
    float al[C], be[C], ga[C], mu[C];
    for (long t0 = p0; t0 < p1; t0 += TILE) {
        const long T = t0 + TILE < p1 ? TILE : p1 - t0;
        for (long j = 0; j < nconv; j++) {
            for (long m = 0; m < D; m++) {
                const long k0 = m * C;
                for (long c = 0; c < C; c++) {
                    al[c] = alpha[j][k0 + c]; be[c] = beta[j][k0 + c]; ga[c] = gamma[j][k0 + c];
                    mu[c] = mean[j * K + k0 + c];
                }
                const float *restrict gm = g[m] + t0 * C, *restrict yy = Y[j] + t0 * K + k0;
                float *restrict o = gY[j] + t0 * K + k0;
                for (long p = 0; p < T; p++)
                    for (long c = 0; c < C; c++)
                        o[p * K + c] = al[c] * gm[p * C + c] + be[c] * (yy[p * K + c] - mu[c]) + ga[c];
            }
        }
    }
}

/* Backward of mix_forward, two passes over the rows (mix.py's docstring has the formulas):
 * 1. sums SG[k] = Σ_p g_m[p, c], SGY_j[k] = Σ_p g_m[p, c]·(Y_j[p, k] − mean_j[k]),
 *    dots[m, f] = ⟨g_m, F_f⟩, and gfree_f[p, c] = Σ_m W[m, f]·g_m[p, c] written on the way;
 * 2. GX_j[k] = rstd·SGY_j, gY_j[p, k] = α·g_m[p, c] + β·(Y_j[p, k] − mean_j[k]) + γ with
 *    α = s·rstd, β = −s·rstd²·GX/P, γ = −s·rstd·SG/P  (s = S[m, j]; centred on the mean, so nothing
 *    cancels when |mean| is much larger than the spread);
 *    grad_scale[m, j] = Σ_{k ∈ block m} GX_j[k]. */
int mix_backward(long P, long C, long D, long nconv, long nfree, int nt,
                 const float **g, const float **Y, const float **F, const float *W, const float *S,
                 const float *mean, const float *rstd, float **gfree, float **gY,
                 double *grad_scale, double *dots) {
    long K = D * C;
    long width = K + nconv * K + D * nfree * C;
    double *partial = calloc((size_t)nt * width, sizeof(double));
    double *total = malloc(sizeof(double) * width);
    const long stride = line_stride(width);
    float *scratch = thread_scratch(nt, stride);
    float *coef = malloc(sizeof(float) * 3 * (nconv > 0 ? nconv : 1) * K);
    if (!partial || !total || !scratch || !coef) {
        free(partial); free(total); free(scratch); free(coef);
        return 1;
    }
    const float *alpha[nconv > 0 ? nconv : 1], *beta[nconv > 0 ? nconv : 1], *gamma[nconv > 0 ? nconv : 1];
    /* one parallel region (each one costs a wake-up of the other threads): pass 1 over the thread's rows,
     * then (one thread) the sums and coefficients, then pass 2 over the same rows */
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        float *acc = scratch + (size_t)t * stride;
        double *dst = partial + (size_t)t * width;
        long p0, p1;
        row_range(P, &p0, &p1);
#define RED(c) reduce_rows(p0, p1, c, D, nconv, nfree, g, Y, mean, F, W, gfree, acc, dst, width)
        WITH_C(C, RED)
#undef RED
        #pragma omp barrier
        #pragma omp single
        {
            reduce_threads(partial, nt, width, total);
            const double *sg = total;
            for (long i = 0; i < D * nfree; i++) {
                double s = 0.0;
                for (long c = 0; c < C; c++) s += total[K + nconv * K + i * C + c];
                dots[i] = s;
            }
            for (long j = 0; j < nconv; j++) {
                const double *sgy = total + K + j * K;
                float *al = coef + 3 * j * K, *be = al + K, *ga = be + K;
                for (long m = 0; m < D; m++) grad_scale[m * nconv + j] = 0.0;
                for (long k = 0; k < K; k++) {
                    double r = rstd[j * K + k], s = S[(k / C) * nconv + j];
                    double gx = r * sgy[k];
                    grad_scale[(k / C) * nconv + j] += gx;
                    al[k] = (float)(s * r);
                    be[k] = (float)(-s * r * r * gx / (double)P);
                    ga[k] = (float)(-s * r * sg[k] / (double)P);
                }
                alpha[j] = al; beta[j] = be; gamma[j] = ga;
            }
        }
        if (nconv > 0) {
#define CONV(c) conv_rows(p0, p1, c, D, nconv, g, Y, mean, alpha, beta, gamma, gY)
            WITH_C(C, CONV)
#undef CONV
        }
    }
    free(partial); free(total); free(scratch); free(coef);
    return 0;
}

/* 3×3 average pooling, stride 1, padding 1, padding excluded from the count (NB201's avg_pool_3x3),
 * on N×H×W rows of C channels:  forward  out[n,h,w] = inv(h,w) · Σ_{window} x[n,h',w']
 *                               backward out[n,h,w] = Σ_{window} inv(h',w') · x[n,h',w']   (x = ∂L/∂y)
 * with inv(h,w) = 1 / (number of window cells inside the image); the window is symmetric, so the
 * adjoint sums over the same neighbours. The window is separable: a row (n, h) of L = W·C floats is
 * the vertical sum of up to three image rows, s[j] = Σ_{h'} (wt_{h'}[j]·) x[n,h',j], then the horizontal
 * one, out[j] = (inv_h[j]·)(s[j−C] + s[j] + s[j+C]); every pass is a contiguous loop over the row, so it
 * vectorises for any channel count and instruction set. */
static const float INV_COUNT[10] = {0.f, 1.f, 1.f / 2, 1.f / 3, 1.f / 4, 0.f, 1.f / 6, 0.f, 0.f, 1.f / 9};

INLINE long neighbours(long i, long n) { return (i > 0) + 1 + (i < n - 1); }  /* of i inside [0, n) */

/* inv + (r−1)·L: the row span of 1/(r·cols(w)) (= INV_COUNT, correctly rounded) for an image row with
 * r ∈ {1, 2, 3} rows in its window; 3·L floats, or NULL when they cannot be allocated. */
static float *inv_spans(long W, long C) {
    const long L = W * C;
    float *inv = malloc(sizeof(float) * 3 * L);
    if (!inv) return NULL;
    for (long r = 1; r <= 3; r++)
        for (long w = 0; w < W; w++)
            for (long c = 0; c < C; c++) inv[(r - 1) * L + w * C + c] = INV_COUNT[r * neighbours(w, W)];
    return inv;
}

INLINE const float *inv_row(const float *inv, long h, long H, long L) { return inv + (neighbours(h, H) - 1) * L; }

/* s[j] = Σ_{h' ∈ {h−1, h, h+1} ∩ [0, H)} x[n, h', j], each term scaled by inv_{h'}[j] when ``inv``. */
INLINE void vsum3(long n, long h, long H, long L, const float *restrict x, const float *restrict inv,
                  float *restrict s) {
    const float *mid = x + (n * H + h) * L;
    if (inv) {
        const float *wm = inv_row(inv, h, H, L);
        for (long j = 0; j < L; j++) s[j] = wm[j] * mid[j];
    } else {
        for (long j = 0; j < L; j++) s[j] = mid[j];
    }
    for (long d = -1; d <= 1; d += 2) {
        if (h + d < 0 || h + d >= H) continue;
        const float *r = mid + d * L;
        if (inv) {
            const float *wr = inv_row(inv, h + d, H, L);
            for (long j = 0; j < L; j++) s[j] += wr[j] * r[j];
        } else {
            for (long j = 0; j < L; j++) s[j] += r[j];
        }
    }
}

/* out[j] = scale[j]·(s[j−C] + s[j] + s[j+C]) over a row of L = W·C floats, terms outside the row left
 * out (scale NULL = 1). */
INLINE void hsum3(long L, long C, const float *restrict s, const float *restrict scale, float *restrict out) {
    if (L == C) {  /* W = 1 */
        for (long j = 0; j < L; j++) out[j] = scale ? scale[j] * s[j] : s[j];
        return;
    }
    for (long j = 0; j < C; j++) out[j] = s[j] + s[j + C];
    for (long j = C; j < L - C; j++) out[j] = s[j - C] + s[j] + s[j + C];
    for (long j = L - C; j < L; j++) out[j] = s[j - C] + s[j];
    if (scale)
        for (long j = 0; j < L; j++) out[j] *= scale[j];
}

/* Runs BODY for every image row (n, h) of an N×H×W×C tensor, rows split among nt threads, with ``s`` and
 * ``r`` two row buffers of L = W·C floats private to the thread; the inverse window sizes in ``inv``.
 * Returns 1 (from the enclosing function) when a buffer cannot be allocated, 0 at once for an empty tensor. */
#define FOR_IMAGE_ROWS(N, H, W, C, nt, BODY)                                             \
    const long L = (W) * (C);                                                           \
    if ((N) * (H) * L == 0) return 0; /* no pixels: nothing to do */                    \
    float *inv = inv_spans(W, C);                                                       \
    int failed = !inv;                                                                  \
    if (!failed) {                                                                      \
        _Pragma("omp parallel num_threads(nt)")                                         \
        {                                                                               \
            float *s = malloc(sizeof(float) * 2 * L), *r = s ? s + L : NULL;            \
            if (!s) {                                                                   \
                _Pragma("omp atomic write")                                             \
                failed = 1;                                                             \
            }                                                                           \
            _Pragma("omp for schedule(static)")                                         \
            for (long row = 0; row < (N) * (H); row++) {                                \
                if (!s) continue;                                                       \
                const long n = row / (H), h = row % (H);                                \
                (void)r;                                                                \
                BODY;                                                                   \
            }                                                                           \
            free(s);                                                                    \
        }                                                                               \
    }                                                                                   \
    free(inv);                                                                          \
    return failed;

int avg_pool3x3(long N, long H, long W, long C, int nt, int backward, const float *x, float *out) {
    FOR_IMAGE_ROWS(N, H, W, C, nt, {
        vsum3(n, h, H, L, x, backward ? inv : NULL, s);
        hsum3(L, C, s, backward ? NULL : inv_row(inv, h, H, L), out + (n * H + h) * L);
    })
}

/* A source node's ReLU and 3×3 average pool in one pass, and their backward in one pass:
 *   forward   relu = max(x, 0), pool = avg_pool3x3(x)
 *   backward  gx = [x > 0]·Σ_r g_relu_r + Σ_{window} inv(h',w')·g_pool[n,h',w'] + g_ident
 * (avg_pool3x3's adjoint; the nrelu ReLU gradients are those of the conv ops reading the one ReLU,
 * g_ident that of the node itself (the skip op), so autograd does not add them up in passes of its own;
 * g_pool and g_ident may be NULL = 0). */
int source_forward(long N, long H, long W, long C, int nt, const float *x, float *relu, float *pool) {
    FOR_IMAGE_ROWS(N, H, W, C, nt, {
        const long i0 = (n * H + h) * L;
        const float *restrict xr = x + i0;
        float *restrict rr = relu + i0;
        for (long j = 0; j < L; j++) rr[j] = xr[j] > 0.f ? xr[j] : 0.f;
        vsum3(n, h, H, L, x, NULL, s);
        hsum3(L, C, s, inv_row(inv, h, H, L), pool + i0);
    })
}

int source_backward(long N, long H, long W, long C, int nt, const float *x, int nrelu, const float **g_relu,
                    const float *g_pool, const float *g_ident, float *gx) {
    FOR_IMAGE_ROWS(N, H, W, C, nt, {
        const long i0 = (n * H + h) * L;
        float *restrict o = gx + i0;
        const float *restrict xr = x + i0;
        if (g_pool) {
            vsum3(n, h, H, L, g_pool, inv, s);
            hsum3(L, C, s, NULL, o);
        } else {
            for (long j = 0; j < L; j++) o[j] = 0.f;
        }
        if (g_ident) {
            const float *restrict gi = g_ident + i0;
            for (long j = 0; j < L; j++) o[j] += gi[j];
        }
        for (long j = 0; j < L; j++) r[j] = 0.f;
        for (int k = 0; k < nrelu; k++) {
            const float *restrict gr = g_relu[k] + i0;
            for (long j = 0; j < L; j++) r[j] += gr[j];
        }
        /* the ReLU gradients are read unconditionally: a load under the condition can compile to a
         * branch, mispredicted on every other pixel of a random-signed x; this is a blend */
        for (long j = 0; j < L; j++) o[j] += xr[j] > 0.f ? r[j] : 0.f;
    })
}
