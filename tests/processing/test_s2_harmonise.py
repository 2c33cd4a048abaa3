"""Harmonising DNs of baselines with an offset (04.00 and later) to the older scale."""

import numpy as np

from geocube_ingest.processing.s2 import harmonised_dn


def test_harmonised_dn_keeps_nodata_and_clips_to_the_uint16_range() -> None:
    dn = np.array([[0, 1, 999, 1000], [1001, 11000, 65535, 2]], dtype="uint16")

    shifted = harmonised_dn(dn, -1000)
    assert shifted.dtype == np.uint16
    assert shifted.tolist() == [[0, 1, 1, 1], [1, 10000, 64535, 1]], "0 is no data; valid DNs never become 0"

    raised = harmonised_dn(dn, 1000)
    assert raised.tolist() == [[0, 1001, 1999, 2000], [2001, 12000, 65535, 1002]], "clipped at 65535"
