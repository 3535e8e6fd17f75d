"""blast-radius's lying proxy: forwards to one upstream, and lies for the regions a profile names.

Run it with `python -m faults --listen PORT --upstream URL [--profile FILE] [--seed N]`;
docs/faults.md is the catalogue of fault kinds and the rules for adding one.
"""

from faults.errors import FaultsError, ProfileError, UpstreamError, UsageError
from faults.profile import Profile, load_profile, parse_profile
from faults.registry import KINDS

__all__ = [
    "KINDS",
    "FaultsError",
    "Profile",
    "ProfileError",
    "UpstreamError",
    "UsageError",
    "load_profile",
    "parse_profile",
]
