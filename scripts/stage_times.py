"""Pass ``dvc repro``'s output through, and time each stage it runs (``.ci/run`` pipes it here).

DVC prints ``Running stage '<name>':`` when a stage starts and ``Stage '<name>' didn't change,
skipping`` for one it skips, but no durations; this reads those lines as they come and prints, once
the run ends, a table of the seconds from each stage's start to the next line of DVC's that starts
or skips another stage (or the end). The CI budget note quotes it per unit.
"""

from __future__ import annotations

import re
import sys
import time

START = re.compile(r"^Running stage '([^']+)'")
SKIP = re.compile(r"^Stage '([^']+)' didn't change")


def main() -> int:
    times: dict[str, float] = {}
    current: tuple[str, float] | None = None
    begun = time.monotonic()

    def close(now: float) -> None:
        if current is not None:
            times[current[0]] = now - current[1]

    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        now = time.monotonic()
        if (started := START.match(line)) is not None:
            close(now)
            current = (started.group(1), now)
        elif SKIP.match(line) is not None:
            close(now)
            current = None
    close(time.monotonic())
    print(f"\n{'dvc stage':<40} {'seconds':>8}")
    for stage, seconds in times.items():
        print(f"{stage:<40} {seconds:8.1f}")
    print(f"{'(whole dvc repro)':<40} {time.monotonic() - begun:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
