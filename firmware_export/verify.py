"""Build and run the exported host test (C front end vs. NumPy test vectors) with a host C compiler."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .sources import FirmwareExportError

CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
SOURCES = ("host_test.c", "mfcc.c", "mfcc_tables.c")


def compiler(cc: str | None = None) -> str:
    """The C compiler to use: ``cc``, else ``$CC``, else ``gcc``; an error when it is not installed."""
    name = cc or os.environ.get("CC") or "gcc"
    path = shutil.which(name)
    if path is None:
        raise FirmwareExportError(f"C compiler '{name}' not found (set CC or install gcc) for --verify")
    return path


def parse_host_test_output(text: str) -> dict:
    """Numbers printed by host_test.c."""
    def grab(pattern, cast):
        match = re.search(pattern, text, flags=re.M)
        return cast(match.group(1)) if match else None

    return {
        "precision": grab(r"^precision (\w+)", str),
        "max_abs_diff": grab(r"^max_abs_diff (\S+)", float),
        "max_rel_diff": grab(r"^max_rel_diff (\S+)", float),
        "quant_mismatch": grab(r"^quant_mismatch (\d+)", int),
        "quant_total": grab(r"^quant_mismatch \d+ of (\d+)", int),
        "max_quant_diff": grab(r"^max_quant_diff (\d+)", int),
        "f32_i16_identical": grab(r"^f32_i16_identical (\d)", lambda s: s == "1"),
        "passed": bool(re.search(r"^PASS", text, flags=re.M)),
    }


def build_program(src_dir: Path, main: str = "host_test.c", build_dir: Path | None = None, cc: str | None = None,
                  single_precision: bool = False) -> Path:
    """Compile ``main`` + mfcc.c + mfcc_tables.c (C99, warnings as errors); returns the executable."""
    src_dir = Path(src_dir)
    build_dir = Path(build_dir) if build_dir is not None else src_dir
    exe = build_dir / (Path(main).stem + ("_f32" if single_precision else ""))
    cmd = [compiler(cc), *CFLAGS, *(["-DEG_MFCC_SINGLE_PRECISION"] if single_precision else []),
           *[str(src_dir / s) for s in (main, *SOURCES[1:])], "-lm", "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise FirmwareExportError(f"compiling {main} failed: {' '.join(cmd)}\n{proc.stderr.strip()}")
    return exe


def build_host_test(src_dir: Path, build_dir: Path | None = None, cc: str | None = None,
                    single_precision: bool = False) -> Path:
    """Compile host_test.c + mfcc.c + mfcc_tables.c; returns the executable."""
    return build_program(src_dir, "host_test.c", build_dir, cc, single_precision)


def c_features(exe: Path, windows_int16) -> np.ndarray:
    """Run a compiled ``mfcc_pipe`` on int16 windows ``(n, window_samples)``; float32 ``(n, frames * coeffs)``."""
    pcm = np.ascontiguousarray(windows_int16, dtype="<i2")
    proc = subprocess.run([str(exe)], input=pcm.tobytes(), capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise FirmwareExportError(f"{exe} failed: {proc.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(proc.stdout, dtype=np.float32).reshape(len(pcm), -1)


def run_host_test(src_dir: Path, cc: str | None = None, tolerance: float = 1e-3, single_precision: bool = False) -> dict:
    """Compile and run the host test; returns the parsed figures plus ``returncode`` and ``command``."""
    exe = build_host_test(src_dir, cc=cc, single_precision=single_precision)
    proc = subprocess.run([str(exe), repr(tolerance)], capture_output=True, text=True, timeout=120)
    result = parse_host_test_output(proc.stdout)
    result.update({"returncode": proc.returncode, "tolerance": tolerance, "output": proc.stdout})
    return result
