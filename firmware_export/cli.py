"""``edge-genre export-firmware``: a thin shell over :func:`firmware_export.export.export_firmware`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edge_genre.cli_support import FiniteFloatRange


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def summary_lines(report: dict) -> list[str]:
    """Human-readable summary of an export report."""
    arena, flash, ram, tv = report["arena"], report["flash"], report["ram"], report["test_vectors"]
    work = ram["mfcc_work"]
    lines = [
        f"wrote {len(report['files'])} files to {report['out_dir']} (model {Path(report['model']).name}, "
        f"{report['model_bytes']} bytes)",
        f"ops ({len(report['ops'])}): {', '.join(report['ops'])}",
        f"tensor arena: {arena['needed']} bytes measured with TFLite Micro, EG_TENSOR_ARENA_SIZE {arena['size']} "
        f"({arena['margin']})",
        f"flash (data): model {_kib(flash['model'])} + MFCC tables {_kib(flash['mfcc_tables'])} = {_kib(flash['total'])}",
        f"RAM: arena {_kib(ram['tensor_arena'])} + MFCC buffers {_kib(work['total'])} (fft {_kib(work['fft'])}, "
        f"power {_kib(work['power'])}, twiddle {_kib(work['twiddle'])}, log-mel {_kib(work['db'])}, features "
        f"{_kib(work['features'])}) + int16 window {_kib(ram['audio_window_int16'])} = {_kib(ram['total'])}",
        f"test vectors: {tv['windows']} windows of {tv['source']}; TFLM top-1 {', '.join(tv['tflm_top1'])}; "
        f"TFLM vs LiteRT max difference {tv['tflm_vs_litert_max_abs_diff_quantized']} (int8 units)",
    ]
    if report.get("misaligned_buffers"):
        lines.append(f"warning: {report['misaligned_buffers']} weight buffers of the model are not 16-byte aligned "
                     "in the flatbuffer (re-export it with 'edge-genre train export')")
    host = report.get("host_test")
    if host:
        lines.append(
            f"host test ({host['precision']} precision): C vs NumPy max |diff| {host['max_abs_diff']:.3g}, "
            f"quantized input mismatches {host['quant_mismatch']} of {host['quant_total']} -> "
            f"{'PASS' if host['passed'] else 'FAIL'}"
        )
    return lines


@click.command("export-firmware")
@click.option("--model", "-m", default="int8", show_default=True, metavar="int8|PATH",
              help="The shipped int8 model or an edge-genre int8 .tflite file.")
@click.option("--out", "-o", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the C sources (created if needed; files of the same names are replaced).")
@click.option("--audio", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Audio file for the test vectors (default: a synthetic excerpt).")
@click.option("--audio-offset", type=FiniteFloatRange(min=0), default=None, metavar="SECONDS",
              help="Start of the test-vector excerpt in --audio (default: its middle).")
@click.option("--test-windows", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Windows in test_vectors.h (1 s apart).")
@click.option("--verify", is_flag=True, help="Compile host_test.c with $CC (or gcc) and run it on the test vectors.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def export_firmware(model: str, out_dir: Path, audio: Path | None, audio_offset: float | None, test_windows: int,
                    verify: bool, as_json: bool) -> None:
    """Write the model and the MFCC front end as C sources for TensorFlow Lite Micro.

    \b
    Output: model_data.h/.cc (the .tflite as an aligned array, arena size),
    model_ops.h (MicroMutableOpResolver registration), mfcc_tables.h/.c
    (front-end constants and tables), labels.h, test_vectors.h, and the
    reference C front end mfcc.h/mfcc.c with host_test.c and mfcc_pipe.c.
    """
    from .export import export_firmware as run_export

    report = run_export(model, out_dir, audio=audio, audio_offset=audio_offset, test_windows=test_windows,
                        verify=verify)
    if as_json:
        if "host_test" in report:
            report["host_test"] = {k: v for k, v in report["host_test"].items() if k != "output"}
        click.echo(json.dumps(report, indent=2))
    else:
        for line in summary_lines(report):
            click.echo(line)
    if verify and not report["host_test"]["passed"]:
        raise SystemExit(1)
