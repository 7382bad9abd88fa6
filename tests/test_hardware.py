"""CPU detection: bf16 is native only with AMX or AVX512-BF16; the fingerprint follows model and flags."""

from medassist.hardware import CpuInfo, _read_cpuinfo

AMD = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 avx avx2 fma f16c bmi2
"""
INTEL = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C
flags\t\t: fpu avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def _info(tmp_path, text: str) -> CpuInfo:
    f = tmp_path / "cpuinfo"
    f.write_text(text)
    model, flags = _read_cpuinfo(f)
    from medassist.hardware import RELEVANT_FLAGS

    return CpuInfo(model=model, arch="x86_64", cores=2, flags=[x for x in RELEVANT_FLAGS if x in flags])


def test_avx2_only_cpu_has_no_native_bf16(tmp_path):
    info = _info(tmp_path, AMD)
    assert info.model == "AMD EPYC 7B13"
    assert info.flags == ["avx2", "fma", "f16c"]
    assert not info.native_bf16 and not info.int8_dot


def test_amx_cpu_has_native_bf16_and_int8_dot(tmp_path):
    info = _info(tmp_path, INTEL)
    assert info.native_bf16 and info.int8_dot
    assert "amx_bf16" in info.summary


def test_fingerprint_changes_with_flags(tmp_path):
    assert _info(tmp_path, AMD).fingerprint != _info(tmp_path, INTEL).fingerprint


def test_unreadable_cpuinfo_gives_no_flags(tmp_path):
    model, flags = _read_cpuinfo(tmp_path / "absent")
    assert flags == set() and model
