"""The daphne (`ws`) processes of the live feed benchmark: the production settings of tests.bench.server_settings,
with the coalescing interval from BENCH_LIVE_COALESCE_MS when it is given (to measure what coalescing costs)."""

import os

from tests.bench.server_settings import *  # noqa: F403

if os.environ.get("BENCH_LIVE_COALESCE_MS"):
    LIVE_COALESCE_MS = int(os.environ["BENCH_LIVE_COALESCE_MS"])
