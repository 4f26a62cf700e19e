"""A second, separate process for the cross-process tests: it reads one runtime
setting through the normal cache in a tight loop and prints every value it sees.

    python live_settings/tests/config_reader_process.py KEY

Prints ``ready`` once its invalidation listener is subscribed, then one JSON line per
distinct value. The TTL comes from the environment, so a test can make it long
enough that only an invalidation message can explain a change.
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from live_settings.selectors import config_get, live_settings_cache  # noqa: E402


def main(key: str) -> None:
    if not live_settings_cache.wait_until_subscribed(timeout=15):
        print("not-subscribed", flush=True)
        sys.exit(1)
    print("ready", flush=True)
    last = object()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        value = config_get(key)
        if value != last:
            print(json.dumps(value), flush=True)
            last = value
        time.sleep(0.005)


if __name__ == "__main__":
    main(sys.argv[1])
