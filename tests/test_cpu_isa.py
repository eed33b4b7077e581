"""CT2_FORCE_CPU_ISA chosen from /proc/cpuinfo's flags (whisper_cli/cpu_isa.py): both CPUs of the brief, as text."""

from __future__ import annotations

from pathlib import Path

from whisper_cli.cpu_isa import VARIABLE, best_isa, choose_cpu_isa

# The first lines of /proc/cpuinfo that matter, cut from the two machines (other lines and flags left out).
XEON_AVX512 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni amx_int8
processor\t: 1
vendor_id\t: GenuineIntel
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl
"""
EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2 sha_ni
"""


def cpuinfo_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_avx512_xeon_gets_the_avx512_kernels(tmp_path):
    environ: dict = {}
    assert choose_cpu_isa(environ, cpuinfo_file(tmp_path, XEON_AVX512)) == "AVX512"
    assert environ == {VARIABLE: "AVX512"}


def test_avx2_only_epyc_keeps_ctranslate2s_choice(tmp_path):
    environ: dict = {}
    assert choose_cpu_isa(environ, cpuinfo_file(tmp_path, EPYC_AVX2)) is None
    assert environ == {}


def test_intel_without_every_avx512_extension_keeps_ctranslate2s_choice():
    assert best_isa(XEON_AVX512.replace("avx512bw ", "").replace(" avx512bw", "")) is None


def test_amd_with_avx512_is_not_forced_unmeasured():
    zen4 = EPYC_AVX2.replace("sha_ni", "sha_ni avx512f avx512dq avx512cd avx512bw avx512vl")
    assert best_isa(zen4) is None


def test_a_variable_the_user_set_is_left_alone(tmp_path):
    environ = {VARIABLE: "AVX2"}
    assert choose_cpu_isa(environ, cpuinfo_file(tmp_path, XEON_AVX512)) is None
    assert environ == {VARIABLE: "AVX2"}


def test_no_cpuinfo_sets_nothing(tmp_path):
    environ: dict = {}
    assert choose_cpu_isa(environ, tmp_path / "missing") is None
    assert environ == {}


def test_this_machine_gets_what_its_flags_allow():
    text = Path("/proc/cpuinfo").read_text()
    environ: dict = {}
    chosen = choose_cpu_isa(environ)
    assert chosen == best_isa(text)
    assert (VARIABLE in environ) == (chosen is not None)
