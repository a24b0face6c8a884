"""Landing-zone URIs: what names a landing zone, and the clear error for what does not."""

from __future__ import annotations

import pytest

from cdp.landing import LandingZone, LandingZoneError, LocalLandingZone, S3LandingZone


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("gs://bucket/prefix", "expected a folder, file:///path or s3://bucket/prefix"),
        ("s3:///prefix", "an S3 URI names its bucket"),
        ("file://otherhost/landing", "a file URI names a folder here"),
        ("  ", "no folder or URI given"),
    ],
)
def test_a_uri_that_names_no_landing_zone_is_refused(uri, message):
    with pytest.raises(LandingZoneError, match=message):
        LandingZone.from_uri(uri)


def test_a_folder_that_is_not_there_is_named_as_such(tmp_path):
    with pytest.raises(LandingZoneError, match="does not exist"):
        LandingZone.from_uri(str(tmp_path / "landng")).check()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(LandingZoneError, match="is not a folder"):
        LandingZone.from_uri(f"file://{tmp_path}/file.txt").check()
    LandingZone.from_uri(f"{tmp_path}/").check()  # a folder that is there


def test_folders_and_s3_uris_as_people_write_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "a b").mkdir()
    assert LandingZone.from_uri("~/a b").uri == str(tmp_path / "a b")
    spaced = LandingZone.from_uri(f"file://localhost{tmp_path}/a%20b")
    assert isinstance(spaced, LocalLandingZone) and spaced.uri == str(tmp_path / "a b")
    s3 = LandingZone.from_uri("S3://bucket/landing/")
    assert isinstance(s3, S3LandingZone) and (s3.bucket, s3.prefix) == ("bucket", "landing")
