/*
 * Features of raw audio windows, as a filter: reads windows of
 * EG_MFCC_WINDOW_SAMPLES little-endian int16 samples from stdin and writes,
 * for each, EG_MFCC_FEATURES_LEN float32 features (native byte order) to
 * stdout. For comparing the C front end with edge_genre.dsp on any audio.
 *
 *   gcc -std=c99 -Wall -Wextra -Werror -O2 mfcc_pipe.c mfcc.c mfcc_tables.c -lm -o mfcc_pipe
 *   ./mfcc_pipe < windows.s16 > features.f32
 */
#include <stdio.h>

#include "mfcc.h"
#include "mfcc_tables.h"

static eg_real fft_buf[EG_MFCC_FFT_LEN];
static eg_real power_buf[EG_MFCC_POWER_LEN];
static eg_real twiddle_buf[EG_MFCC_TWIDDLE_LEN];
static float db_buf[EG_MFCC_DB_LEN];
static float features[EG_MFCC_FEATURES_LEN];
static int16_t samples[EG_MFCC_WINDOW_SAMPLES];
static unsigned char raw[2 * EG_MFCC_WINDOW_SAMPLES];

int main(void) {
  eg_mfcc_work work;
  size_t i;
  long windows = 0;
  work.fft = fft_buf;
  work.power = power_buf;
  work.twiddle = twiddle_buf;
  work.db = db_buf;
  work.ready_n_fft = 0;
  if (eg_mfcc_init(&eg_front_end, &work) != EG_MFCC_OK) {
    fprintf(stderr, "mfcc_pipe: eg_mfcc_init failed\n");
    return 2;
  }
  for (;;) {
    size_t got = fread(raw, 1, sizeof raw, stdin);
    if (got == 0) break;
    if (got != sizeof raw) {
      fprintf(stderr, "mfcc_pipe: incomplete window (%lu bytes) after %ld windows\n", (unsigned long)got, windows);
      return 1;
    }
    for (i = 0; i < EG_MFCC_WINDOW_SAMPLES; ++i) {
      samples[i] = (int16_t)(uint16_t)(raw[2 * i] | (raw[2 * i + 1] << 8));
    }
    if (eg_mfcc_window_i16(&eg_front_end, &work, samples, features) != EG_MFCC_OK) {
      fprintf(stderr, "mfcc_pipe: eg_mfcc_window_i16 failed\n");
      return 2;
    }
    if (fwrite(features, sizeof(float), EG_MFCC_FEATURES_LEN, stdout) != EG_MFCC_FEATURES_LEN) return 1;
    windows++;
  }
  return 0;
}
