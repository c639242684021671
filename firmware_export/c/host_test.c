/*
 * Host check of the C front end against the NumPy reference (test_vectors.h):
 * computes the features of every test window from its 16-bit samples, and
 * prints the largest absolute difference to the NumPy features and how many
 * quantised model inputs differ from NumPy's.
 *
 *   gcc -std=c99 -Wall -Wextra -Werror -O2 host_test.c mfcc.c mfcc_tables.c -lm -o host_test
 *   ./host_test [tolerance]     (default tolerance 1e-3; exit status 1 when exceeded)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mfcc.h"
#include "mfcc_tables.h"
#include "test_vectors.h"

static eg_real fft_buf[EG_MFCC_FFT_LEN];
static eg_real power_buf[EG_MFCC_POWER_LEN];
static eg_real twiddle_buf[EG_MFCC_TWIDDLE_LEN];
static float db_buf[EG_MFCC_DB_LEN];
static float features[EG_MFCC_FEATURES_LEN];
static float features_f32[EG_MFCC_FEATURES_LEN];
static float window_f32[EG_MFCC_WINDOW_SAMPLES];
static int8_t model_input[EG_MFCC_FEATURES_LEN];

int main(int argc, char **argv) {
  eg_mfcc_work work;
  double tolerance = argc > 1 ? atof(argv[1]) : 1e-3;
  double max_diff = 0.0, max_rel = 0.0;
  long quant_mismatch = 0, quant_total = 0;
  int max_quant_diff = 0, identical = 1, w, i, status;

  work.fft = fft_buf;
  work.power = power_buf;
  work.twiddle = twiddle_buf;
  work.db = db_buf;
  work.ready_n_fft = 0;
  status = eg_mfcc_init(&eg_front_end, &work);
  if (status != EG_MFCC_OK) {
    printf("eg_mfcc_init failed: %d\n", status);
    return 2;
  }
  printf("precision %s\n", sizeof(eg_real) == sizeof(double) ? "double" : "single");
  for (w = 0; w < EG_TEST_N_WINDOWS; ++w) {
    const int16_t *samples = eg_test_audio + eg_test_window_start[w];
    double window_max = 0.0;
    int worst = 0, window_quant_max = 0;
    long window_mismatch = 0;
    status = eg_mfcc_window_i16(&eg_front_end, &work, samples, features);
    if (status != EG_MFCC_OK) {
      printf("eg_mfcc_window_i16 failed: %d\n", status);
      return 2;
    }
    /* The float entry point must give the very same features. */
    for (i = 0; i < EG_MFCC_WINDOW_SAMPLES; ++i) window_f32[i] = (float)samples[i] / 32768.0f;
    status = eg_mfcc_window_f32(&eg_front_end, &work, window_f32, features_f32);
    if (status != EG_MFCC_OK) {
      printf("eg_mfcc_window_f32 failed: %d\n", status);
      return 2;
    }
    for (i = 0; i < EG_MFCC_FEATURES_LEN; ++i) {
      double ref = (double)eg_test_features[w][i];
      double d = fabs((double)features[i] - ref);
      if (d > window_max) {
        window_max = d;
        worst = i;
      }
      if (d / (fabs(ref) > 1.0 ? fabs(ref) : 1.0) > max_rel) max_rel = d / (fabs(ref) > 1.0 ? fabs(ref) : 1.0);
      if (features[i] != features_f32[i]) identical = 0;
    }
    eg_mfcc_quantize(&eg_front_end, features, model_input, EG_MFCC_FEATURES_LEN);
    for (i = 0; i < EG_MFCC_FEATURES_LEN; ++i) {
      int d = abs((int)model_input[i] - (int)eg_test_input[w][i]);
      if (d) window_mismatch++;
      if (d > window_quant_max) window_quant_max = d;
    }
    printf("window %d: start %ld max_abs_diff %.3e (frame %d, coefficient %d: C %.6f NumPy %.6f) "
           "quant_mismatch %ld max_quant_diff %d\n",
           w, (long)eg_test_window_start[w], window_max, worst / EG_MFCC_N_FEATURES, worst % EG_MFCC_N_FEATURES,
           (double)features[worst], (double)eg_test_features[w][worst], window_mismatch, window_quant_max);
    if (window_max > max_diff) max_diff = window_max;
    if (window_quant_max > max_quant_diff) max_quant_diff = window_quant_max;
    quant_mismatch += window_mismatch;
    quant_total += EG_MFCC_FEATURES_LEN;
  }
  printf("max_abs_diff %.6e\n", max_diff);
  printf("max_rel_diff %.6e\n", max_rel);
  printf("quant_mismatch %ld of %ld\n", quant_mismatch, quant_total);
  printf("max_quant_diff %d\n", max_quant_diff);
  printf("f32_i16_identical %d\n", identical);
  if (max_diff <= tolerance && max_quant_diff <= 1 && identical) {
    printf("PASS (tolerance %g)\n", tolerance);
    return 0;
  }
  printf("FAIL (tolerance %g)\n", tolerance);
  return 1;
}
