"""Small vocabulary shared by every package of the suite: regions and their names."""

from common.regions import REGIONS, RegionError, parse_region

__all__ = ["REGIONS", "RegionError", "parse_region"]
