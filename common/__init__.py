"""Small vocabulary shared by every package of the suite: regions and their names.

`common.service` holds what every child service shares (ready file, parent watch).
"""

from common.regions import REGIONS, RegionError, parse_region

__all__ = ["REGIONS", "RegionError", "parse_region"]
