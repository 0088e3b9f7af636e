"""``doctor``: the machine's compute devices, versions, memory and precisions, and a short self-test on each."""

from __future__ import annotations

import json

from core.cli.arguments import EXIT_FAILED


def add_doctor_parser(sub) -> None:
    """Add ``doctor``: what this machine can compute on, checked by a tiny sweep per device."""
    p = sub.add_parser(
        "doctor",
        help="list the compute devices (versions, memory, precisions) and self-test each with a tiny sweep",
        description="List torch, CUDA, cuDNN and driver versions, the CPU and every visible GPU with its memory "
        "and the precisions it supports, then run a tiny sweep (random-weight networks, generated images) on "
        "each device and compare it with the CPU's fp32 result (share of pixels within 2 grey levels); the CPU's "
        "own run is compared with the original pipeline. Exit 0 when every check passes, 1 otherwise.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-self-test", action="store_true", help="only list the devices (no sweep runs)")
    p.set_defaults(handler=cmd_doctor)


def cmd_doctor(args) -> int:
    """Describe the devices, run the self-test, print text or JSON; exit 1 when a check failed."""
    from core.models.devices import describe_devices

    info = describe_devices()
    info["cuda_note"] = cuda_note(info)
    if not args.no_self_test:
        from core.sweeps.bench import self_test

        info["self_test"] = self_test([gpu["device"] for gpu in info["gpus"]])
    info["ok"] = all(check["ok"] for check in info.get("self_test", []))
    if args.json:
        print(json.dumps(info))
    else:
        print("\n".join(report_lines(info)))
    return 0 if info["ok"] else EXIT_FAILED


def cuda_note(info: dict) -> str | None:
    """Why no GPU is listed (None when there is one): a CPU-only torch build, or no visible device."""
    if info["gpus"]:
        return None
    if not info["cuda"]:
        return f"no CUDA device: torch {info['torch']} is a CPU-only build; sweeps run on the CPU"
    return (f"no CUDA device: torch {info['torch']} is built for CUDA {info['cuda']} but sees no GPU "
            "(check the driver, nvidia-smi and CUDA_VISIBLE_DEVICES); sweeps run on the CPU")


def report_lines(info: dict) -> list[str]:
    """The doctor's report as text lines."""
    cpu = info["cpu"]
    memory = f"{cpu['memory_mb'] / 1024:.1f} GiB" if cpu["memory_mb"] else "memory unknown"
    lines = [(f"torch {info['torch']} · CUDA {info['cuda'] or 'none'} · cuDNN {info['cudnn'] or 'none'} · "
              f"driver {info['driver'] or 'none'}"),
             (f"cpu     {cpu['name']}, {cpu['cores']} cores ({cpu['threads']} torch threads), {memory}; "
              f"precisions {', '.join(cpu['precisions'])}")]
    for gpu in info["gpus"]:
        lines.append(f"{gpu['device']:<7} {gpu['name']} (compute {gpu['capability']}, {gpu['multiprocessors']} SMs), "
                     f"{gpu['memory_mb'] / 1024:.1f} GiB, {gpu['free_mb'] / 1024:.1f} GiB free; "
                     f"precisions {', '.join(gpu['precisions'])}")
    if info.get("cuda_note"):
        lines.append(info["cuda_note"])
    if "self_test" in info:
        lines.append("self-test: a tiny sweep per device and precision against the CPU's fp32 sketches")
        for check in info["self_test"]:
            share = "-" if check["within_2"] is None else f"{100 * check['within_2']:.2f}%"
            extra = "  identical to the original pipeline" if check.get("identical") else ""
            lines.append(f"  {check['device']:<7} {check['precision']:<5} {check['cells']} cells, "
                         f"{check['failed']} failed, {check['seconds']:.1f} s, within 2 grey levels: {share}"
                         f"{extra}  {'ok' if check['ok'] else 'FAILED'}")
    return lines
