"""Settings of the daphne process the live feed tests start: the platform's, replaying at most 20 entries per
group on resume (so that a test can miss more than that without creating a thousand cases)."""

from qingdao_ops.settings import *  # noqa: F403

LIVE_REPLAY_MAX = 20
