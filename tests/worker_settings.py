"""Settings for the Celery worker subprocess the integration tests start.

The test process passes what differs per test through the environment: the provider
configuration (pointing at its loopback host), the queue, and short timings.
"""

import json
import os

from config.settings import *  # noqa: F403

BLOGIMAGES_PROVIDERS = json.loads(os.environ["BLOGIMAGES_TEST_PROVIDERS"])
BLOGIMAGES_DEFAULT_PROVIDER = next(iter(BLOGIMAGES_PROVIDERS))
BLOGIMAGES_TASK_STALE_AFTER = float(os.environ.get("BLOGIMAGES_TEST_STALE_AFTER", "900"))
BLOGIMAGES_RETRY_BACKOFF_BASE = 0.2
BLOGIMAGES_CONCURRENCY_RETRY_DELAY = 0.2
CELERY_TASK_DEFAULT_QUEUE = os.environ["BLOGIMAGES_TEST_QUEUE"]
# A killed worker's message comes back within seconds instead of an hour.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": float(os.environ.get("BLOGIMAGES_TEST_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
