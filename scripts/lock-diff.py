"""Print each package whose version in a `pip freeze` list differs from uv.lock (make test-latest)."""

import re
import sys
import tomllib


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(lock_path: str, freeze_path: str) -> None:
    with open(lock_path, "rb") as lock_file:
        lock = tomllib.load(lock_file)
    locked: dict[str, set[str]] = {}
    for package in lock["package"]:
        locked.setdefault(canonical(package["name"]), set()).add(package["version"])
    changed = 0
    with open(freeze_path) as freeze:
        for line in freeze:
            name, sep, version = line.strip().partition("==")
            if not sep:
                continue
            was = locked.get(canonical(name))
            if was is None or version not in was:
                changed += 1
                print(f"  {name}: {' or '.join(sorted(was)) if was else 'not locked'} -> {version}")
    if not changed:
        print("  none: uv.lock is the newest set")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
