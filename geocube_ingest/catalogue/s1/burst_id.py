"""ESA's Sentinel-1 burst identifiers, computed from burst sensing times.

A burst id names the same patch of ground on every pass of a track, so tiles of one burst id
form a time series whatever the slicing of the products. The method is the one of the
Sentinel-1 Level-1 Detailed Algorithm Definition (used by s1-reader, opera burst_db and
burst2safe), described in ../shared/fixtures/README.md section 7:

- the reference instant of a burst cycle is the middle of the burst of the reference swath
  (IW2 for IW, EW3 for EW), found from the sensing time of the first line of any swath's
  burst and the fixed swath-to-swath delays;
- the time since the ascending node plus (orbit - 1) nominal orbit periods, minus the
  preamble, divided by the beam-cycle time gives the id (relative orbit: track-wise id;
  absolute orbit: absolute id);
- a product whose given ascending node is more than an orbit before a burst either crossed
  the node (the burst belongs to the stop track) or was given the previous node (one period
  is taken off).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from geocube_ingest.errors import InvalidInput

ORBITS_PER_CYCLE = 175
T_ORBIT = 12 * 86400 / ORBITS_PER_CYCLE  # nominal orbit period, seconds


@dataclass(frozen=True, slots=True)
class _ModeTiming:
    beam_cycle: float  # one burst cycle through every swath, seconds
    preamble: float
    swath_delays: tuple[float, ...]  # start of swath k+1's burst after swath k's, within a cycle
    reference_swath: int  # 1-based swath whose mid-burst time is the cycle's reference instant


_TIMINGS = {
    "IW": _ModeTiming(2.758273, 2.299849, (0.832, 1.078, 0.848), 2),
    "EW": _ModeTiming(3.038376, 2.299970, (0.68268, 0.55873, 0.61234, 0.56538, 0.61925), 3),
}
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


def _timing(swath: str) -> tuple[_ModeTiming, int]:
    match = _SWATH.match(swath.upper())
    if not match or (match.group(1) == "IW" and int(match.group(2)) > 3):
        raise InvalidInput(f"burst ids are defined for TOPS swaths IW1-IW3 and EW1-EW5, not {swath!r}")
    return _TIMINGS[match.group(1)], int(match.group(2))


def crosses_node(track_start: int, track_stop: int) -> bool:
    return track_stop == track_start % ORBITS_PER_CYCLE + 1


def burst_id_from_anx_offset(
    seconds_since_anx: float, swath: str, *, track_start: int, track_stop: int, absolute_orbit: int
) -> BurstId:
    """Burst id from the sensing time of a burst's first line, in seconds after the product's ascending node.

    `track_start`/`track_stop` are the relative orbits at the start and stop of the product
    and `absolute_orbit` the absolute orbit at its start.
    """
    timing, number = _timing(swath)
    first_swath_start = seconds_since_anx - sum(timing.swath_delays[: number - 1])
    ref = timing.reference_swath
    reference = first_swath_start + sum(timing.swath_delays[: ref - 1]) + timing.swath_delays[ref - 1] / 2
    track = track_start
    if first_swath_start >= T_ORBIT:
        track = track_stop
        if not crosses_node(track_start, track_stop):
            reference -= T_ORBIT  # the given node was the one before the product's own
    # Track-wise ids restart with track 1 after track 175 (a product crossing the node from 175 to 1).
    cycle_time = (reference + (track_start - 1) * T_ORBIT - timing.preamble) % (ORBITS_PER_CYCLE * T_ORBIT)
    relative = 1 + math.floor(cycle_time / timing.beam_cycle)
    absolute = 1 + math.floor((reference + (absolute_orbit - 1) * T_ORBIT - timing.preamble) / timing.beam_cycle)
    return BurstId(track=track, relative=relative, absolute=absolute, swath=swath.upper())


def burst_id(
    sensing_time: datetime,
    ascending_node: datetime,
    swath: str,
    *,
    track_start: int,
    track_stop: int,
    absolute_orbit: int,
) -> BurstId:
    """Burst id of a burst whose first line was sensed at `sensing_time` (annotation `sensingTime`)."""
    return burst_id_from_anx_offset(
        (sensing_time - ascending_node).total_seconds(),
        swath,
        track_start=track_start,
        track_stop=track_stop,
        absolute_orbit=absolute_orbit,
    )


# Absolute orbit of each satellite whose relative orbit is 1, modulo 175: S1A and S1B from the
# mission specification; S1C from its first products (absolute 638 is relative 15).
_ORBIT_OFFSETS = {"S1A": 73, "S1B": 27, "S1C": 99}


def relative_orbit(mission: str, absolute_orbit: int) -> int:
    """Relative orbit (track) of an absolute orbit; InvalidInput for a satellite whose phasing is unknown."""
    offset = _ORBIT_OFFSETS.get(mission.upper())
    if offset is None:
        raise InvalidInput(
            f"the relative orbit of {mission} cannot be derived from its absolute orbit: "
            "give the product's manifest.safe or a catalogue relativeOrbit"
        )
    return (absolute_orbit - offset) % ORBITS_PER_CYCLE + 1
