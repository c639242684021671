"""Firmware export: the edge-genre int8 model and MFCC front end as C sources for TensorFlow Lite Micro.

- :func:`firmware_export.export.export_firmware` writes model_data.h/.cc, model_ops.h,
  mfcc_tables.h/.c, labels.h, test_vectors.h and the reference C front end (``c/``).
- ``edge-genre export-firmware`` (:mod:`firmware_export.cli`) is the command line.
- :mod:`firmware_export.tflm` measures the tensor arena and runs the TFLM interpreter;
  :mod:`firmware_export.verify` compiles and runs the host test.

Nothing here is imported by the on-device runtime; it needs the ``dev`` extra (tflite-micro).
"""
