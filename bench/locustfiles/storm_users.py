"""The storm's region users exactly as a storm runs them, only without pauses.

Every response is parsed and checked for honesty (storm.checks) and its staleness is
reported as a request of type STALENESS, as in a storm. `wait_time` is zero so that the
number of requests per second measures what one Locust process can generate.
"""

from __future__ import annotations

from locust import constant

from storm.users import region_user_classes

globals().update(
    {
        name: type(name, (user,), {"wait_time": constant(0)})
        for name, user in region_user_classes().items()
    }
)
