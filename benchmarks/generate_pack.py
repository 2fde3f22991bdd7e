"""Generate a large pack in the security_content layout from the project's own pack.

Each copy of the shipped detection gets a unique name, id, file stem and filter
macro, so the copies are a valid pack of N detections.

    python benchmarks/generate_pack.py OUT_DIR [--count 2000]
"""
from __future__ import annotations

import argparse
import shutil
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "detections" / "endpoint" / "script_execution_via_wmi.yml"
NAMESPACE = uuid.UUID("6f1c1f64-3d0e-4c3e-9a53-0f5b8d9b2a10")


def generate(out: Path, count: int) -> Path:
    if out.exists():
        shutil.rmtree(out)
    for name in ("stories", "macros", "attack_data"):
        shutil.copytree(ROOT / name, out / name)
    shutil.copy(ROOT / "contentctl.yml", out / "contentctl.yml")
    template = SOURCE.read_text()
    folder = out / "detections" / "endpoint"
    folder.mkdir(parents=True)
    for i in range(count):
        stem = f"script_execution_via_wmi_{i:04d}"
        text = (template
                .replace("name: Script Execution via WMI", f"name: Script Execution via WMI {i:04d}")
                .replace("aa73f80d-d728-4077-b226-81ea0c8be589", str(uuid.uuid5(NAMESPACE, stem)))
                .replace("`script_execution_via_wmi_filter`", f"`{stem}_filter`"))
        (folder / f"{stem}.yml").write_text(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    generate(args.out, args.count)
    print(f"wrote {args.count} detections to {args.out}")


if __name__ == "__main__":
    main()
