"""Production settings plus the benchmark's baseline endpoint (tests/bench/server_urls.py); make bench only."""

from qingdao_ops.settings import *  # noqa: F403

ROOT_URLCONF = "tests.bench.server_urls"
