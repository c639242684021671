/*
 * edge-genre MFCC front end for one classification window, in C99 (libm only,
 * no malloc). Reference implementation of edge_genre.dsp.window_features:
 *
 *   centred frames with zero padding -> periodic Hann -> real FFT (radix 2)
 *   -> power -> sparse Slaney mel filterbank -> 10*log10(max(1e-10, x))
 *   -> top_db floor over the window -> orthonormal DCT-II (MFCC)
 *   -> optional per-coefficient standardisation -> int8 model input.
 *
 * The tables (window, mel bands, DCT, quantisation) come from the generated
 * mfcc_tables.c; every buffer is provided by the caller (see eg_mfcc_work).
 * Arithmetic is double precision by default (the features then match the
 * NumPy reference to about 1e-5); define EG_MFCC_SINGLE_PRECISION to use
 * float everywhere (faster on FPUs without double support, less accurate).
 */
#ifndef EG_MFCC_H_
#define EG_MFCC_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef EG_MFCC_SINGLE_PRECISION
typedef float eg_real;
#else
typedef double eg_real;
#endif

#define EG_MFCC_OK 0
#define EG_MFCC_ERR_ARGUMENT (-1)    /* null pointer or inconsistent tables */
#define EG_MFCC_ERR_NOT_READY (-2)   /* eg_mfcc_init was not called for these tables */

#define EG_FEATURES_MFCC 0
#define EG_FEATURES_LOGMEL 1

#define EG_NORMALIZE_NONE 0
#define EG_NORMALIZE_WINDOW 1 /* zero mean, unit variance per coefficient over the window */
#define EG_NORMALIZE_LEVEL 2  /* the window's mean log-mel level removed before the DCT */

/* Constant description of the front end (generated: see mfcc_tables.c). */
typedef struct {
  int32_t sample_rate;
  int32_t n_fft;          /* power of two */
  int32_t hop_length;
  int32_t n_mels;
  int32_t n_mfcc;
  int32_t window_samples; /* samples per classification window */
  int32_t n_frames;       /* 1 + window_samples / hop_length */
  int32_t kind;           /* EG_FEATURES_MFCC or EG_FEATURES_LOGMEL */
  int32_t n_features;     /* coefficients per frame: n_mfcc or n_mels */
  int32_t use_top_db;     /* 0: no floor */
  float top_db;           /* dynamic range kept below the window's maximum, dB */
  int32_t normalize;      /* EG_NORMALIZE_NONE, _WINDOW (standardise each coefficient over the
                             window) or _LEVEL (subtract the window's mean log-mel dB) */
  const float *window;        /* [n_fft] periodic Hann window (used by single-precision builds;
                                 double builds compute it in double from the cosine table) */
  const uint16_t *mel_start;  /* [n_mels] first FFT bin of each band */
  const uint16_t *mel_length; /* [n_mels] number of bins of each band */
  const uint32_t *mel_offset; /* [n_mels] index of each band's first weight */
  const float *mel_weights;   /* concatenated non-zero band weights */
  const float *dct;           /* [n_mfcc][n_mels] orthonormal DCT-II, row-major */
  float input_scale;          /* model input quantisation: q = round(x / scale) + zero_point */
  int32_t input_zero_point;
} eg_mfcc_tables;

/* Caller-provided working memory. Sizes for tables t:
 *   fft     t->n_fft eg_real
 *   power   t->n_fft / 2 + 1 eg_real
 *   twiddle t->n_fft / 4 + 1 eg_real (cosine table, filled by eg_mfcc_init)
 *   db      t->n_frames * t->n_mels float (log-mel of the whole window)
 * mfcc_tables.h defines EG_MFCC_*_LEN macros with these sizes. */
typedef struct {
  eg_real *fft;
  eg_real *power;
  eg_real *twiddle;
  float *db;
  int32_t ready_n_fft; /* set by eg_mfcc_init */
} eg_mfcc_work;

/* Fill the twiddle table; call once per work area (and after changing tables). */
int eg_mfcc_init(const eg_mfcc_tables *t, eg_mfcc_work *w);

/* Log-mel dB (no top_db floor yet) of one frame of t->n_fft samples, already
 * centred and zero padded by the caller; db_row receives t->n_mels values.
 * For streaming: frames that lie wholly inside consecutive windows can be
 * kept and reused, only the top_db floor and DCT are per window. */
int eg_mfcc_frame_db(const eg_mfcc_tables *t, eg_mfcc_work *w, const float *frame, float *db_row);

/* top_db floor over db (t->n_frames x t->n_mels, modified in place), then
 * the DCT (or a copy for log-mel) and optional normalisation into features
 * (t->n_frames x t->n_features, row-major: frame by frame). */
int eg_mfcc_finish(const eg_mfcc_tables *t, float *db, float *features);

/* Features of one window of t->window_samples samples in [-1, 1). */
int eg_mfcc_window_f32(const eg_mfcc_tables *t, eg_mfcc_work *w, const float *samples, float *features);

/* Same for 16-bit PCM (sample / 32768, exactly as a 16-bit WAV decodes). */
int eg_mfcc_window_i16(const eg_mfcc_tables *t, eg_mfcc_work *w, const int16_t *samples, float *features);

/* Model input: q = clamp(round_half_even(x / scale) + zero_point, -128, 127). */
void eg_mfcc_quantize(const eg_mfcc_tables *t, const float *features, int8_t *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* EG_MFCC_H_ */
