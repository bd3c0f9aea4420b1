"""Feature keys: which rows come from the same kind of CPU, so that they may be compared.

A key is the CPU's identity and the key flags (gemmbench.machine.isa.key_flags) it offers:

    intel-6-143+avx2+avx512f+avx512_vnni+avx512_bf16+avx512_fp16+amx_tile   vendor-family-model (x86)
    arm-0xd0c+asimd+asimddp                                                  vendor-part (aarch64)
    intel-6-143+avx2+simulated                                               GEMMBENCH_CPU_FLAGS was set

Family and model come from CPUID (as /proc/cpuinfo prints them), not from the brand string,
which hypervisors rewrite and which tells CPU generations apart badly ("AMD EPYC" names Zen 4
and Zen 5 alike).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SIMULATED = "simulated"  # the last part of a simulated CPU's key

X86_VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd", "HygonGenuine": "hygon", "CentaurHauls": "centaur",
               "Shanghai": "zhaoxin"}
ARM_IMPLEMENTERS = {"0x41": "arm", "0x42": "broadcom", "0x43": "cavium", "0x46": "fujitsu", "0x48": "hisilicon",
                    "0x4e": "nvidia", "0x50": "apm", "0x51": "qualcomm", "0x61": "apple", "0x6d": "microsoft",
                    "0xc0": "ampere"}


@dataclass(frozen=True)
class CpuIdentity:
    vendor: str  # intel, amd, arm, ampere, ...
    family: str  # x86: CPUID family, decimal; '' on aarch64
    model: str  # x86: CPUID model, decimal; aarch64: the CPU part, e.g. 0xd0c

    @property
    def slug(self) -> str:
        return "-".join(part for part in (self.vendor, self.family, self.model) if part)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "unknown"


def identity(fields: dict[str, str]) -> CpuIdentity | None:
    """The identity in one processor's /proc/cpuinfo fields (x86 or aarch64), or None when they lack it."""
    vendor = fields.get("vendor_id", "").strip()
    if vendor and fields.get("cpu family", "").strip() and fields.get("model", "").strip():
        return CpuIdentity(X86_VENDORS.get(vendor, _slug(vendor)), fields["cpu family"].strip(),
                           fields["model"].strip())
    implementer = fields.get("CPU implementer", "").strip().lower()
    part = fields.get("CPU part", "").strip().lower()
    if implementer and part:
        return CpuIdentity(ARM_IMPLEMENTERS.get(implementer, f"impl{implementer}"), "", part)
    return None


def _brand_slug(cpu_model: str) -> str:
    """A key part from a brand string alone (where the OS gives no CPUID fields): marks and clock dropped."""
    text = re.sub(r"\((r|tm|c)\)|@.*$|\b(cpu|processor)\b", " ", cpu_model.lower())
    return _slug(text)


def compose(cpu: CpuIdentity | str, flags, key_flags: tuple[str, ...], simulated: bool = False) -> str:
    """The key: the identity's slug (or a brand slug), the key flags present, '+simulated' when simulated."""
    head = cpu.slug if isinstance(cpu, CpuIdentity) else _brand_slug(cpu)
    present = set(flags)
    return "+".join([head, *(flag for flag in key_flags if flag in present), *([SIMULATED] if simulated else [])])



def is_simulated(key: str | None) -> bool:
    return bool(key) and key.split("+")[-1] == SIMULATED
