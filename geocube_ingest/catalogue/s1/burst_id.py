"""ESA's Sentinel-1 burst identifiers, computed from each burst's own mid-burst time.

A burst id names the same patch of ground on every pass of a track, so tiles of one burst id
form a time series whatever the slicing of the products. The definition is the one of the
Sentinel-1 Level-1 Detailed Algorithm Definition (eq. 9-89 to 9-91):

- the reference instant of a burst is its own middle in zero-Doppler time: the azimuth time
  of its first line plus half a burst (lines per burst x azimuth time interval);
- that instant after the ascending node, plus (orbit - 1) nominal orbit periods, minus the
  preamble, divided by the beam-cycle time gives the id (relative orbit: the id along the
  track, the `<burstId>` of IPF >= 3.40 annotations; absolute orbit: its `absolute` attribute);
- the track of an id is the track in which its interval starts (ESA's per-track id table:
  track 1 = 1-2148, track 2 = 2149-4296, ...), so a product crossing the node gets the next
  track for the bursts after it;
- a product whose given ascending node is more than an orbit before a burst either crossed
  the node or was given the previous node (one period is taken off).

An instant shared by the three swaths of a burst cycle (the middle of the IW2 burst, as
s1-reader and burst2safe compute it) gives the same relative ids, but absolute ids one too
high for IW1 and one too low for IW3 on some passes: the absolute id accumulates a fraction of
a beam cycle per orbit, so the few tenths of a second between the swaths' own mid-burst
instants and the shared one cross an id boundary on some products (checked on real
annotations in tests/catalogue/data/README.md).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime

from geocube_ingest.errors import InvalidInput

logger = logging.getLogger(__name__)

ORBITS_PER_CYCLE = 175
T_ORBIT = 12 * 86400 / ORBITS_PER_CYCLE  # nominal orbit period, seconds
T_CYCLE = ORBITS_PER_CYCLE * T_ORBIT


@dataclass(frozen=True, slots=True)
class _ModeTiming:
    beam_cycle: float  # one burst cycle through every swath, seconds
    preamble: float


_TIMINGS = {"IW": _ModeTiming(2.758273, 2.299849), "EW": _ModeTiming(3.038376, 2.299970)}
_SWATH = re.compile(r"^(IW|EW)([1-5])$")
_BURST_ID = re.compile(r"^t(\d{3})_(\d{6,})_(iw[1-3]|ew[1-5])$")


@dataclass(frozen=True, slots=True)
class BurstId:
    track: int  # relative orbit the burst belongs to
    relative: int  # ESA's burst id along the track (the `<burstId>` element)
    absolute: int  # ESA's absolute burst id (the `absolute` attribute)
    swath: str  # IW1..IW3, EW1..EW5

    def __str__(self) -> str:
        return f"t{self.track:03d}_{self.relative:06d}_{self.swath.lower()}"

    @classmethod
    def parse_key(cls, text: str) -> tuple[int, int, str]:
        """(track, relative id, swath) of a `t071_151199_iw3` key."""
        match = _BURST_ID.match(text.strip().lower())
        if not match:
            raise InvalidInput(f"{text!r} is not a burst id like 't071_151199_iw3'")
        return int(match.group(1)), int(match.group(2)), match.group(3).upper()


def _timing(swath: str) -> _ModeTiming:
    match = _SWATH.match(swath.upper())
    if not match or (match.group(1) == "IW" and int(match.group(2)) > 3):
        raise InvalidInput(f"burst ids are defined for TOPS swaths IW1-IW3 and EW1-EW5, not {swath!r}")
    return _TIMINGS[match.group(1)]


def crosses_node(track_start: int, track_stop: int) -> bool:
    return track_stop == track_start % ORBITS_PER_CYCLE + 1


def track_of(relative_id: int, swath: str) -> int:
    """The track whose id range holds `relative_id`: the one in which the id's interval starts."""
    timing = _timing(swath)
    return int((timing.preamble + (relative_id - 1) * timing.beam_cycle) // T_ORBIT) % ORBITS_PER_CYCLE + 1


def burst_id_from_anx_offset(
    mid_burst_since_anx: float, swath: str, *, track_start: int, track_stop: int, absolute_orbit: int
) -> BurstId:
    """Burst id from a burst's zero-Doppler mid-burst time, in seconds after the product's ascending node.

    `track_start`/`track_stop` are the relative orbits at the start and stop of the product
    and `absolute_orbit` the absolute orbit at its start.
    """
    timing = _timing(swath)
    since_node = mid_burst_since_anx
    if since_node >= T_ORBIT and not crosses_node(track_start, track_stop):
        since_node -= T_ORBIT  # the given node was the one before the product's own
    # Track-wise ids restart with track 1 after track 175 (a product crossing the node from 175 to 1).
    cycle_time = (since_node + (track_start - 1) * T_ORBIT - timing.preamble) % T_CYCLE
    relative = 1 + math.floor(cycle_time / timing.beam_cycle)
    absolute = 1 + math.floor((since_node + (absolute_orbit - 1) * T_ORBIT - timing.preamble) / timing.beam_cycle)
    return BurstId(track=track_of(relative, swath), relative=relative, absolute=absolute, swath=swath.upper())


def burst_id(
    azimuth_time: datetime,
    burst_duration: float,
    ascending_node: datetime,
    swath: str,
    *,
    track_start: int,
    track_stop: int,
    absolute_orbit: int,
) -> BurstId:
    """Burst id of a burst whose first line's zero-Doppler time is `azimuth_time` (annotation `azimuthTime`).

    `burst_duration` is lines per burst x azimuth time interval, in seconds.
    """
    return burst_id_from_anx_offset(
        (azimuth_time - ascending_node).total_seconds() + burst_duration / 2,
        swath,
        track_start=track_start,
        track_stop=track_stop,
        absolute_orbit=absolute_orbit,
    )


# Absolute orbit of each satellite whose relative orbit is 1, modulo 175, on its reference
# orbit: S1A and S1B from the mission specification; S1C from its operational products
# (ISCE2 and MintPy use the same offset; its commissioning products before spring 2025 were
# numbered otherwise, like S1A's of 2014).
_ORBIT_OFFSETS = {"S1A": 73, "S1B": 27, "S1C": 172}


def relative_orbit(mission: str, absolute_orbit: int) -> int:
    """Relative orbit (track) of an absolute orbit; InvalidInput for a satellite whose phasing is unknown."""
    offset = _ORBIT_OFFSETS.get(mission.upper())
    if offset is None:
        raise InvalidInput(
            f"the relative orbit of {mission} cannot be derived from its absolute orbit: "
            "give the product's manifest.safe or a catalogue relativeOrbit"
        )
    return (absolute_orbit - offset) % ORBITS_PER_CYCLE + 1


def knows_phasing(mission: str) -> bool:
    return mission.upper() in _ORBIT_OFFSETS


def checked_relative_orbit(mission: str, absolute_orbit: int, declared: int | None, product: str) -> int:
    """The relative orbit ESA's formula gives, warning when the product's metadata declares another.

    Early products carry relative orbits that the formula (and every later pass over the same
    ground) does not: trusting them would give the bursts another track's ids. A satellite
    whose phasing is unknown keeps the declared value.
    """
    if not knows_phasing(mission):
        if declared is None:
            return relative_orbit(mission, absolute_orbit)  # raises, naming the satellite
        return declared
    computed = relative_orbit(mission, absolute_orbit)
    if declared is not None and declared != computed:
        logger.warning(
            "%s: relative orbit %d in its metadata disagrees with %d from %s absolute orbit %d; using %d",
            product or "product",
            declared,
            computed,
            mission.upper(),
            absolute_orbit,
            computed,
        )
    return computed
