"""Golden digests of the generator, per version.

A change to what ``render_fundus(seed, grade)`` draws must come with a new ``GENERATOR_VERSION``:
the version is part of every split's request (a cached split of an older version is rebuilt, and
a model's recorded split fingerprint no longer matches). This test pins the sha256 of a few
rendered eyes (image and masks) for the current version, so a change to the generator that
forgets to bump the version fails here, and a bump without new digests fails too.
"""

import hashlib

import numpy as np
import pytest

from drlib.synth import GENERATOR_VERSION, SynthConfig, render_fundus

#: version -> [(seed, grade, sha256 of image bytes, sha256 of the masks stacked by name)], 96 px
GOLDEN = {
    "1.1": [
        (0, 0, "57f2ef675b26dcae76f9a8a6475899fc47c3c99961e13cffcf122f29f06f41b0",
         "853a0582a199ea71544d70e3dd4b6d524707f71fad0a785fe01f63e5ad293dea"),
        (1, 1, "138901adc18d9a7d6245dddc70268e953a318196b80501b4855d7e9ba0af115f",
         "bd8bab94c5c8c113f4afed09e6b6cc788dd266471393b2dad732ff2911a448b8"),
        (2, 2, "44b1d677b11cc8cdfc0edcefc82bdb5feb5f575bba54d88ee945969b733527ad",
         "f189f73c91919f7c22606b6cdf6937a9a8b301067d8b1a6685f46ab9ece91ec8"),
        (3, 3, "c02de12d77ea7be20140716528e64634a7f5bad933724adca388b00281b358ad",
         "946f9d50249bac521ed99c8641f6b55fdfad215e952220175e8cd6bd35600e91"),
        (4, 4, "22edb01755e39319b4a209d68106d69a4c6b343bcfd2198bcd57662abe4b6d8c",
         "23185e0b3c59a14b8893940aefb09a26a99f28e00cf9759c083fc9a809f282a7"),
    ],
    "2.0": [
        (0, 0, "0081cf970252d25aa34caa95197d508dbc6078e667aa19f17a991a7b1624400f",
         "56102cb57f870b5a767d9db35c52c886b7bb2d97245a6b0ff638b064466c17dc"),
        (1, 1, "9933d39b1844e6ae11f2e8614ab4975f9da14c4e1ee6336f5bdd439ec603eb17",
         "53e240f25f839e40bb5300b3a33fb5404e5ab94c95eed8f1366e74ba95c0a82b"),
        (2, 2, "3cc84441f8d8c17f5f25c0f86a17d89854b6a0f1e8411b57a0e55a6658da03a8",
         "3ab4de2d765dbcc092306b044618b0e198c4e73d41823ad79ee149eab8442f4e"),
        (3, 3, "fd096b1ee428618a65b0142a8b531f9de7c789fd25abc0944357be7b68a29192",
         "0733af77b60a3c8cc2c9f4245b48d47e6861b6179fe0f175234278c93d410fec"),
        (4, 4, "1c75a7a3b36b50f52e95d8a2cd06664bfc400b760a2a4bf8bccfa4c0519b2051",
         "f374b8fe0b0d501e1c0a71d05fdf772d33c5a16b1a6e2f4b02977b0c341bcf40"),
    ],
}


def test_the_current_version_has_golden_digests():
    assert GENERATOR_VERSION in GOLDEN, (
        f"GENERATOR_VERSION {GENERATOR_VERSION!r} has no golden digests: render the eyes below "
        "and add them, after checking the change is intended")


@pytest.mark.parametrize("seed, grade, image_sha, masks_sha", GOLDEN.get(GENERATOR_VERSION, []))
def test_rendered_eyes_match_their_golden_digests(seed, grade, image_sha, masks_sha):
    sample = render_fundus(seed, grade, SynthConfig(size=96))
    masks = np.stack([sample.masks[name] for name in sorted(sample.masks)])
    assert hashlib.sha256(sample.image.tobytes()).hexdigest() == image_sha
    assert hashlib.sha256(masks.tobytes()).hexdigest() == masks_sha
