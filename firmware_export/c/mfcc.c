/*
 * edge-genre MFCC front end for one window: see mfcc.h. C99, libm only.
 */
#include "mfcc.h"

#include <math.h>

#ifdef EG_MFCC_SINGLE_PRECISION
#define EG_COS(x) cosf(x)
#define EG_LOG10(x) log10f(x)
#define EG_SQRT(x) sqrtf(x)
#define EG_PI 3.14159265358979323846f
#define EG_AMIN 1e-10f
#else
#define EG_COS(x) cos(x)
#define EG_LOG10(x) log10(x)
#define EG_SQRT(x) sqrt(x)
#define EG_PI 3.14159265358979323846
#define EG_AMIN 1e-10
#endif

static int is_power_of_two(int32_t n) { return n >= 4 && (n & (n - 1)) == 0; }

static int check_tables(const eg_mfcc_tables *t) {
  if (t == NULL || t->window == NULL || t->mel_start == NULL || t->mel_length == NULL ||
      t->mel_offset == NULL || t->mel_weights == NULL) {
    return EG_MFCC_ERR_ARGUMENT;
  }
  if (!is_power_of_two(t->n_fft) || t->hop_length <= 0 || t->n_mels <= 0 || t->n_frames <= 0 ||
      t->window_samples <= 0) {
    return EG_MFCC_ERR_ARGUMENT;
  }
  if (t->kind == EG_FEATURES_MFCC) {
    if (t->dct == NULL || t->n_mfcc <= 0 || t->n_mfcc > t->n_mels || t->n_features != t->n_mfcc) {
      return EG_MFCC_ERR_ARGUMENT;
    }
  } else if (t->kind != EG_FEATURES_LOGMEL || t->n_features != t->n_mels) {
    return EG_MFCC_ERR_ARGUMENT;
  }
  return EG_MFCC_OK;
}

static int check_work(const eg_mfcc_tables *t, const eg_mfcc_work *w) {
  int status = check_tables(t);
  if (status != EG_MFCC_OK) return status;
  if (w == NULL || w->fft == NULL || w->power == NULL || w->twiddle == NULL) return EG_MFCC_ERR_ARGUMENT;
  if (w->ready_n_fft != t->n_fft) return EG_MFCC_ERR_NOT_READY;
  return EG_MFCC_OK;
}

int eg_mfcc_init(const eg_mfcc_tables *t, eg_mfcc_work *w) {
  int32_t k, quarter;
  int status = check_tables(t);
  if (status != EG_MFCC_OK) return status;
  if (w == NULL || w->twiddle == NULL) return EG_MFCC_ERR_ARGUMENT;
  quarter = t->n_fft / 4;
  /* cos(2 pi k / n_fft) for k = 0 .. n_fft / 4; every other twiddle follows by symmetry. */
  for (k = 0; k <= quarter; ++k) {
    w->twiddle[k] = EG_COS((eg_real)2 * EG_PI * (eg_real)k / (eg_real)t->n_fft);
  }
  w->twiddle[quarter] = 0; /* exact zero at pi / 2 */
  w->ready_n_fft = t->n_fft;
  return EG_MFCC_OK;
}

/* Periodic Hann window value i. In double precision it is computed from the cosine table
 * (float64, like NumPy's window): a float32 window would add a noise floor about 144 dB below
 * the signal, which shows in the features when there is no top_db floor. */
static eg_real hann(const eg_mfcc_tables *t, const eg_real *c, int32_t i) {
#ifdef EG_MFCC_SINGLE_PRECISION
  (void)c;
  return (eg_real)t->window[i];
#else
  const int32_t n = t->n_fft, quarter = n / 4;
  const int32_t k = i <= n / 2 ? i : n - i; /* cos(2 pi i / n) = cos(2 pi (n - i) / n) */
  const eg_real cs = k <= quarter ? c[k] : -c[2 * quarter - k];
  return (eg_real)0.5 - (eg_real)0.5 * cs;
#endif
}

/* cos and sin of 2 pi k / n for 0 <= k < n / 2, from the quarter-wave table c. */
static eg_real cos_n(const eg_real *c, int32_t quarter, int32_t k) {
  return k <= quarter ? c[k] : -c[2 * quarter - k];
}

static eg_real sin_n(const eg_real *c, int32_t quarter, int32_t k) {
  return k <= quarter ? c[quarter - k] : c[k - quarter];
}

/* In-place radix-2 decimation-in-time FFT of m complex values (interleaved re, im),
 * forward sign exp(-2 pi i j k / m); m = n_fft / 2, twiddles from the n_fft table. */
static void complex_fft(eg_real *z, int32_t m, const eg_real *c, int32_t quarter) {
  int32_t i, j, bit, len;
  /* Bit-reversal permutation. */
  for (i = 1, j = 0; i < m; ++i) {
    for (bit = m >> 1; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      eg_real tr = z[2 * i], ti = z[2 * i + 1];
      z[2 * i] = z[2 * j];
      z[2 * i + 1] = z[2 * j + 1];
      z[2 * j] = tr;
      z[2 * j + 1] = ti;
    }
  }
  for (len = 2; len <= m; len <<= 1) {
    int32_t half = len >> 1;
    int32_t step = (2 * m) / len; /* twiddle index in units of 2 pi / n_fft */
    for (j = 0; j < half; ++j) {
      eg_real wr = cos_n(c, quarter, j * step);
      eg_real wi = -sin_n(c, quarter, j * step);
      for (i = j; i < m; i += len) {
        eg_real *a = z + 2 * i, *b = z + 2 * (i + half);
        eg_real tr = wr * b[0] - wi * b[1];
        eg_real ti = wr * b[1] + wi * b[0];
        b[0] = a[0] - tr;
        b[1] = a[1] - ti;
        a[0] += tr;
        a[1] += ti;
      }
    }
  }
}

/* Power spectrum |X[k]|^2, k = 0 .. n/2, of the n real samples in w->fft (destroyed). */
static void power_spectrum(const eg_mfcc_tables *t, eg_mfcc_work *w) {
  const int32_t n = t->n_fft, m = n / 2, quarter = n / 4;
  const eg_real *c = w->twiddle;
  eg_real *z = w->fft, *p = w->power;
  int32_t k;
  /* The n real samples, read as m complex ones z[j] = x[2j] + i x[2j+1]. */
  complex_fft(z, m, c, quarter);
  {
    eg_real x0 = z[0] + z[1], xm = z[0] - z[1];
    p[0] = x0 * x0;
    p[m] = xm * xm;
  }
  for (k = 1; k < m; ++k) {
    /* X[k] = E + W^k O with E = (Z[k] + conj Z[m-k]) / 2, O = -i (Z[k] - conj Z[m-k]) / 2. */
    eg_real ar = z[2 * k], ai = z[2 * k + 1];
    eg_real br = z[2 * (m - k)], bi = -z[2 * (m - k) + 1];
    eg_real er = (eg_real)0.5 * (ar + br), ei = (eg_real)0.5 * (ai + bi);
    eg_real dr = (eg_real)0.5 * (ar - br), di = (eg_real)0.5 * (ai - bi);
    eg_real cs = cos_n(c, quarter, k), sn = sin_n(c, quarter, k);
    eg_real xr = er + cs * di - sn * dr;
    eg_real xi = ei - cs * dr - sn * di;
    p[k] = xr * xr + xi * xi;
  }
}

/* Mel projection and dB of the power spectrum in w->power. */
static void mel_db(const eg_mfcc_tables *t, const eg_mfcc_work *w, float *db_row) {
  int32_t band, j;
  for (band = 0; band < t->n_mels; ++band) {
    const float *weights = t->mel_weights + t->mel_offset[band];
    const eg_real *p = w->power + t->mel_start[band];
    eg_real acc = 0;
    for (j = 0; j < (int32_t)t->mel_length[band]; ++j) acc += (eg_real)weights[j] * p[j];
    if (acc < EG_AMIN) acc = EG_AMIN;
    db_row[band] = (float)((eg_real)10 * EG_LOG10(acc));
  }
}

int eg_mfcc_frame_db(const eg_mfcc_tables *t, eg_mfcc_work *w, const float *frame, float *db_row) {
  int32_t i;
  int status = check_work(t, w);
  if (status != EG_MFCC_OK) return status;
  if (frame == NULL || db_row == NULL) return EG_MFCC_ERR_ARGUMENT;
  for (i = 0; i < t->n_fft; ++i) w->fft[i] = hann(t, w->twiddle, i) * (eg_real)frame[i];
  power_spectrum(t, w);
  mel_db(t, w, db_row);
  return EG_MFCC_OK;
}

int eg_mfcc_finish(const eg_mfcc_tables *t, float *db, float *features) {
  const int32_t n_frames = t != NULL ? t->n_frames : 0, n_mels = t != NULL ? t->n_mels : 0;
  int32_t i, f, k;
  int status = check_tables(t);
  if (status != EG_MFCC_OK) return status;
  if (db == NULL || features == NULL) return EG_MFCC_ERR_ARGUMENT;
  if (t->use_top_db) {
    float top = db[0], floor_db;
    for (i = 1; i < n_frames * n_mels; ++i) {
      if (db[i] > top) top = db[i];
    }
    floor_db = top - t->top_db; /* float arithmetic, as NumPy does it */
    for (i = 0; i < n_frames * n_mels; ++i) {
      if (db[i] < floor_db) db[i] = floor_db;
    }
  }
  if (t->normalize == EG_NORMALIZE_LEVEL) {
    double mean = 0.0;
    for (i = 0; i < n_frames * n_mels; ++i) mean += (double)db[i];
    mean /= (double)(n_frames * n_mels);
    for (i = 0; i < n_frames * n_mels; ++i) db[i] = (float)((double)db[i] - mean);
  }
  if (t->kind == EG_FEATURES_MFCC) {
    for (f = 0; f < n_frames; ++f) {
      const float *row = db + (size_t)f * n_mels;
      for (k = 0; k < t->n_mfcc; ++k) {
        const float *basis = t->dct + (size_t)k * n_mels;
        eg_real acc = 0;
        for (i = 0; i < n_mels; ++i) acc += (eg_real)basis[i] * (eg_real)row[i];
        features[(size_t)f * t->n_features + k] = (float)acc;
      }
    }
  } else {
    for (i = 0; i < n_frames * n_mels; ++i) features[i] = db[i];
  }
  if (t->normalize == EG_NORMALIZE_WINDOW) {
    const int32_t n_feat = t->n_features;
    for (k = 0; k < n_feat; ++k) {
      double mean = 0.0, var = 0.0, scale;
      for (f = 0; f < n_frames; ++f) mean += (double)features[(size_t)f * n_feat + k];
      mean /= (double)n_frames;
      for (f = 0; f < n_frames; ++f) {
        double d = (double)features[(size_t)f * n_feat + k] - mean;
        var += d * d;
      }
      scale = sqrt(var / (double)n_frames);
      if (scale < 1e-5) scale = 1e-5;
      for (f = 0; f < n_frames; ++f) {
        size_t at = (size_t)f * n_feat + k;
        features[at] = (float)(((double)features[at] - mean) / scale);
      }
    }
  }
  return EG_MFCC_OK;
}

/* Windowed frame `index` of a window (centred, zero padded) into w->fft. */
#define EG_LOAD_FRAME(T, W, SAMPLES, INDEX, CONVERT)                           \
  do {                                                                         \
    const int32_t start_ = (INDEX) * (T)->hop_length - (T)->n_fft / 2;         \
    int32_t i_;                                                                \
    for (i_ = 0; i_ < (T)->n_fft; ++i_) {                                      \
      const int32_t s_ = start_ + i_;                                          \
      eg_real v_ = 0;                                                          \
      if (s_ >= 0 && s_ < (T)->window_samples) v_ = CONVERT((SAMPLES)[s_]);    \
      (W)->fft[i_] = hann((T), (W)->twiddle, i_) * v_;                         \
    }                                                                          \
  } while (0)

#define EG_FROM_F32(x) ((eg_real)(x))
#define EG_FROM_I16(x) ((eg_real)((float)(x) * (1.0f / 32768.0f)))

int eg_mfcc_window_f32(const eg_mfcc_tables *t, eg_mfcc_work *w, const float *samples, float *features) {
  int32_t f;
  int status = check_work(t, w);
  if (status != EG_MFCC_OK) return status;
  if (samples == NULL || features == NULL || w->db == NULL) return EG_MFCC_ERR_ARGUMENT;
  for (f = 0; f < t->n_frames; ++f) {
    EG_LOAD_FRAME(t, w, samples, f, EG_FROM_F32);
    power_spectrum(t, w);
    mel_db(t, w, w->db + (size_t)f * t->n_mels);
  }
  return eg_mfcc_finish(t, w->db, features);
}

int eg_mfcc_window_i16(const eg_mfcc_tables *t, eg_mfcc_work *w, const int16_t *samples, float *features) {
  int32_t f;
  int status = check_work(t, w);
  if (status != EG_MFCC_OK) return status;
  if (samples == NULL || features == NULL || w->db == NULL) return EG_MFCC_ERR_ARGUMENT;
  for (f = 0; f < t->n_frames; ++f) {
    EG_LOAD_FRAME(t, w, samples, f, EG_FROM_I16);
    power_spectrum(t, w);
    mel_db(t, w, w->db + (size_t)f * t->n_mels);
  }
  return eg_mfcc_finish(t, w->db, features);
}

void eg_mfcc_quantize(const eg_mfcc_tables *t, const float *features, int8_t *out, size_t n) {
  size_t i;
  if (t == NULL || features == NULL || out == NULL) return;
  for (i = 0; i < n; ++i) {
    /* float division and round-half-to-even, exactly as NumPy's np.round(x / scale) on float32 */
    float q = rintf(features[i] / t->input_scale) + (float)t->input_zero_point;
    if (q < -128.0f) q = -128.0f;
    if (q > 127.0f) q = 127.0f;
    out[i] = (int8_t)q;
  }
}
