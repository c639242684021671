"""Programs the benchmark runs in fresh interpreters (``python -m benchmarks.probes.NAME ARGS``).

Each has a ``main(argv)`` that prints one JSON line; :func:`benchmarks.common.run_probe` starts
them with the thread-limited environment and reads that line.
"""
