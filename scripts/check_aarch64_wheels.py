#!/usr/bin/env python3
"""CI check: can every runtime dependency be pip-installed on a Raspberry Pi without compiling?

Reads ``[project].dependencies`` from pyproject.toml, evaluates their environment
markers for the target (Linux aarch64, CPython 3.11: Raspberry Pi OS Bookworm
64-bit), and asks the package index for a binary wheel of each one with::

    pip download --only-binary=:all: --no-deps --implementation cp --python-version 3.11 \\
        --abi cp311 --abi abi3 --abi none --platform manylinux2014_aarch64 \\
        --platform manylinux_2_17_aarch64 ... --platform manylinux_2_36_aarch64 --platform any -d TMP REQ

Every manylinux tag up to the target glibc (2.36 on Bookworm) is accepted, so
wheels built for manylinux2014 and for newer baselines (manylinux_2_28) both
count. Pure-Python wheels (``py3-none-any``: sounddevice, which loads the system
libportaudio2) are fine: the point is that pip installs them without a
compiler. The newest release satisfying the requirement that has such a wheel
is reported; the check fails (exit 1) when a dependency has none.

Usage::

    python scripts/check_aarch64_wheels.py            # table, exit 1 on a missing wheel
    python scripts/check_aarch64_wheels.py --json
    python scripts/check_aarch64_wheels.py --python-version 3.12 --glibc 2.39
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parent.parent


def dependencies(pyproject: Path) -> list[str]:
    with open(pyproject, "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def target_environment(python_version: str, machine: str) -> dict[str, str]:
    """PEP 508 marker values of the target (not of the machine running the check)."""
    return {
        "implementation_name": "cpython", "implementation_version": f"{python_version}.0",
        "os_name": "posix", "platform_machine": machine, "platform_python_implementation": "CPython",
        "platform_release": "", "platform_system": "Linux", "platform_version": "",
        "python_full_version": f"{python_version}.0", "python_version": python_version, "sys_platform": "linux",
    }


def applies(requirement: str, env: dict[str, str]) -> tuple[str, bool]:
    """(requirement without its marker, whether the marker holds on the target)."""
    spec, _, marker = requirement.partition(";")
    if not marker.strip():
        return spec.strip(), True
    try:
        from packaging.markers import Marker
    except ImportError:
        from pip._vendor.packaging.markers import Marker  # pip always carries packaging
    return spec.strip(), Marker(marker.strip()).evaluate(env)


def platform_tags(machine: str, glibc: str) -> list[str]:
    major, minor = (int(x) for x in glibc.split("."))
    tags = [f"manylinux2014_{machine}"] + [f"manylinux_{major}_{m}_{machine}" for m in range(17, minor + 1)]
    return tags + ["any"]


def check(requirement: str, python_version: str, machine: str, glibc: str, index_url: str | None,
          timeout: float) -> dict:
    nodot = python_version.replace(".", "")
    with tempfile.TemporaryDirectory(prefix="wheels-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps", "--no-cache-dir",
               "--disable-pip-version-check", "--quiet", "--implementation", "cp", "--python-version", python_version,
               "--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none", "-d", tmp]
        for tag in platform_tags(machine, glibc):
            cmd += ["--platform", tag]
        if index_url:
            cmd += ["--index-url", index_url]
        cmd.append(requirement)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"requirement": requirement, "ok": False, "wheel": None, "error": f"pip timed out after {timeout:g} s"}
        wheels = sorted(p.name for p in Path(tmp).glob("*.whl"))
    if proc.returncode == 0 and wheels:
        return {"requirement": requirement, "ok": True, "wheel": wheels[0], "error": None}
    lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"(ERROR|error)\b", line)] or lines[-1:] or ["no wheel downloaded"]
    return {"requirement": requirement, "ok": False, "wheel": None, "error": errors[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pyproject", type=Path, default=REPO / "pyproject.toml")
    parser.add_argument("--python-version", default="3.11", help="target CPython (default 3.11)")
    parser.add_argument("--machine", default="aarch64", help="target platform_machine (default aarch64)")
    parser.add_argument("--glibc", default="2.36", help="target glibc; manylinux tags up to it count (default 2.36, Bookworm)")
    parser.add_argument("--index-url", default=None, help="package index (default: pip's configuration)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per package (default 300)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    env = target_environment(args.python_version, args.machine)
    results = []
    for requirement in dependencies(args.pyproject):
        spec, needed = applies(requirement, env)
        if not needed:
            results.append({"requirement": spec, "ok": True, "wheel": None, "error": None,
                            "skipped": f"marker excludes {args.machine}"})
            continue
        results.append(check(spec, args.python_version, args.machine, args.glibc, args.index_url, args.timeout))
    ok = all(r["ok"] for r in results)
    target = f"CPython {args.python_version} on linux {args.machine} (glibc {args.glibc})"
    if args.json:
        print(json.dumps({"target": target, "ok": ok, "dependencies": results}, indent=2))
    else:
        print(f"binary wheels for {target}:")
        width = max(len(r["requirement"]) for r in results)
        for r in results:
            status = "ok     " if r["ok"] else "MISSING"
            detail = r.get("skipped") or r["wheel"] or r["error"]
            print(f"  {status}  {r['requirement']:<{width}}  {detail}")
        missing = [r["requirement"] for r in results if not r["ok"]]
        print("all runtime dependencies install from wheels" if ok else
              f"no installable wheel for: {', '.join(missing)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
