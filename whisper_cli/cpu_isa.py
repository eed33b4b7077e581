"""Which CPU kernels CTranslate2 uses: AVX-512 where the CPU has it and it was measured faster (issue 13).

CTranslate2 reads CT2_FORCE_CPU_ISA once, when it is imported, and otherwise runs its AVX2 kernels even on
a CPU with AVX-512. On an Intel Xeon with AVX-512, AVX512 was measured 1.10x faster (base int8, 60 s of
speech, 2 threads, median of 3 pairs) with the same text. Nothing is set on other CPUs: AVX2-only ones
(AMD EPYC before Zen 4, most laptops) cannot run the AVX-512 kernels, and on AMD's AVX-512 (Zen 4, which
splits 512-bit operations in two) the gain was never measured. A variable the user set is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping, Optional

VARIABLE = "CT2_FORCE_CPU_ISA"
# The extensions CTranslate2's AVX512 kernels are built for (its cpu_supports_avx512 asks for all five).
AVX512_FLAGS = frozenset({"avx512f", "avx512cd", "avx512vl", "avx512bw", "avx512dq"})
MEASURED_FASTER_VENDORS = frozenset({"GenuineIntel"})


def best_isa(cpuinfo: str) -> Optional[str]:
    """The ISA to force for a CPU described by /proc/cpuinfo's text; None to keep CTranslate2's choice."""
    vendor, flags = "", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    if vendor in MEASURED_FASTER_VENDORS and AVX512_FLAGS <= flags:
        return "AVX512"
    return None


def choose_cpu_isa(environ: MutableMapping[str, str] = os.environ, cpuinfo: Path = Path("/proc/cpuinfo")) -> Optional[str]:
    """Set CT2_FORCE_CPU_ISA before ctranslate2 is imported, unless the user set it; returns what was set."""
    if VARIABLE in environ:
        return None
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux, or no /proc: keep CTranslate2's own choice
        return None
    isa = best_isa(text)
    if isa is not None:
        environ[VARIABLE] = isa
    return isa
