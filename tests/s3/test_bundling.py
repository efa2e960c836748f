"""Several files of one message uploaded as one zip to a real S3 protocol server (moto)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from as2sync.backends import base
from as2sync.backends.mftgateway_s3.bundling import bundle
from as2sync.backends.mftgateway_s3.client import S3Clients
from as2sync.backends.mftgateway_s3.uploading import put
from as2sync.errors import ContentChanged, InvalidRequest

KEY = "AS2/send/MYSTATION/ACME/bundle.zip"


def _claimed(path: Path, body: bytes) -> base.OutboundFile:
    path.write_bytes(body)
    return base.OutboundFile(
        path, path.name, "application/edi", len(body), hashlib.sha256(body).hexdigest()
    )


def test_the_files_travel_as_one_zip_of_their_recorded_bytes(s3: S3Clients, tmp_path: Path) -> None:
    files = [
        _claimed(tmp_path / "a.edi", b"UNB+A'\n" * 500),
        _claimed(tmp_path / "b.xml", b"<b/>" * 300),
    ]
    archive = bundle(files, tmp_path / "one.zip", "bundle.zip")
    again = bundle(files, tmp_path / "two.zip", "bundle.zip")
    assert archive.sha256 == again.sha256  # the same files make the same archive
    put(s3, KEY, archive)
    got = s3.reads.get_object(Bucket=s3.bucket, Key=KEY)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(got)) as unpacked:
        assert unpacked.namelist() == ["a.edi", "b.xml"]
        assert unpacked.read("a.edi") == b"UNB+A'\n" * 500
        assert unpacked.read("b.xml") == b"<b/>" * 300


def test_a_file_changed_after_its_claim_makes_no_archive(tmp_path: Path) -> None:
    item = _claimed(tmp_path / "a.edi", b"UNB+A'\n" * 500)
    (tmp_path / "a.edi").write_bytes(b"UNB+Z'\n" * 500)
    with pytest.raises(ContentChanged):
        bundle([item], tmp_path / "one.zip", "bundle.zip")


def test_two_files_of_one_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    files = [_claimed(tmp_path / "a.edi", b"1"), _claimed(tmp_path / "x" / "a.edi", b"2")]
    with pytest.raises(InvalidRequest):
        bundle(files, tmp_path / "one.zip", "bundle.zip")
