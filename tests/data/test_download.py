"""download_url, mirrors, archive extraction and dataset downloads against a local 127.0.0.1 server."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pytest
from data.datahelpers import cifar_archive, md5, write_mnist

from cnnkit.data import CIFAR10, MNIST, FashionMNIST, download_url, extract_archive
from cnnkit.data.dataset import DatasetError
from cnnkit.data.download import ChecksumError, DownloadError, check_integrity, download_from_mirrors, file_hash

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


def test_download_verifies_md5_and_sha256(server, tmp_path):
    url = server.add("/files/blob.bin", PAYLOAD)
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    path = download_url(url, tmp_path / "dl", md5=md5(PAYLOAD), sha256=sha)
    assert path == tmp_path / "dl" / "blob.bin"
    assert path.read_bytes() == PAYLOAD
    assert files_in(tmp_path / "dl") == ["blob.bin"]
    assert check_integrity(path, md5=md5(PAYLOAD), sha256=sha)
    assert file_hash(path, "sha256") == sha


def test_existing_verified_file_is_not_fetched_again(server, tmp_path):
    url = server.add("/a.bin", PAYLOAD)
    download_url(url, tmp_path, md5=md5(PAYLOAD))
    download_url(url, tmp_path, md5=md5(PAYLOAD))
    assert len(server.requests) == 1


def test_wrong_checksum_raises_and_leaves_no_file(server, tmp_path):
    url = server.add("/a.bin", PAYLOAD)
    with pytest.raises(ChecksumError, match="MD5"):
        download_url(url, tmp_path, md5="0" * 32)
    assert files_in(tmp_path) == []
    with pytest.raises(ChecksumError, match="SHA256"):
        download_url(url, tmp_path, sha256="f" * 64)
    assert files_in(tmp_path) == []


def test_wrong_checksum_keeps_an_existing_file_untouched(server, tmp_path):
    url = server.add("/a.bin", PAYLOAD)
    (tmp_path / "a.bin").write_bytes(b"old contents")
    with pytest.raises(ChecksumError):
        download_url(url, tmp_path, md5="0" * 32)
    assert (tmp_path / "a.bin").read_bytes() == b"old contents"
    assert files_in(tmp_path) == ["a.bin"]


def test_dropped_connection_leaves_no_final_file_then_resumes(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD)
    server.drop_after["/big.bin"] = 30_000
    with pytest.raises(DownloadError, match="30000 bytes kept"):
        download_url(url, tmp_path, md5=md5(PAYLOAD), retries=0)
    assert files_in(tmp_path) == ["big.bin.part"]
    assert (tmp_path / "big.bin.part").stat().st_size == 30_000
    path = download_url(url, tmp_path, md5=md5(PAYLOAD), retries=0)
    assert path.read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/big.bin", "bytes=30000-")
    assert files_in(tmp_path) == ["big.bin"]


def test_retry_resumes_within_one_call(server, tmp_path):
    url = server.add("/big.bin", PAYLOAD)
    server.drop_after["/big.bin"] = 10_000
    server.drop_times["/big.bin"] = 2
    path = download_url(url, tmp_path, md5=md5(PAYLOAD), retries=2, retry_delay=0)
    assert path.read_bytes() == PAYLOAD
    assert [r for _, r in server.requests] == [None, "bytes=10000-", "bytes=20000-"]


def test_server_ignoring_range_restarts_from_scratch(server, tmp_path):
    url = server.add("/a.bin", PAYLOAD)
    (tmp_path / "a.bin.part").write_bytes(b"garbage" * 10)
    server.ignore_range = True
    path = download_url(url, tmp_path, md5=md5(PAYLOAD))
    assert path.read_bytes() == PAYLOAD
    assert files_in(tmp_path) == ["a.bin"]


def test_part_file_already_complete_is_verified_without_refetching(server, tmp_path):
    url = server.add("/a.bin", PAYLOAD)
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD)
    path = download_url(url, tmp_path, md5=md5(PAYLOAD))
    assert path.read_bytes() == PAYLOAD
    assert server.requests == [("/a.bin", f"bytes={len(PAYLOAD)}-")]


def test_corrupt_part_file_fails_checksum_and_is_removed(server, tmp_path):
    url = server.add("/a.bin", PAYLOAD)
    (tmp_path / "a.bin.part").write_bytes(b"x" * 100)  # resumed on top of wrong bytes
    with pytest.raises(ChecksumError):
        download_url(url, tmp_path, md5=md5(PAYLOAD))
    assert files_in(tmp_path) == []
    assert download_url(url, tmp_path, md5=md5(PAYLOAD)).read_bytes() == PAYLOAD


def test_http_errors(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_url(server.url + "/missing.bin", tmp_path)
    assert len(server.requests) == 1  # a 404 is not retried
    server.add("/flaky.bin", PAYLOAD)
    server.status["/flaky.bin"] = 503
    with pytest.raises(DownloadError, match="3 tries"):
        download_url(server.url + "/flaky.bin", tmp_path, retries=2, retry_delay=0)
    assert files_in(tmp_path) == []


def test_unreachable_server_is_a_download_error(tmp_path):
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="could not fetch"):
        download_url(f"http://127.0.0.1:{port}/x.bin", tmp_path, retries=0, timeout=2)


def test_argument_validation(tmp_path):
    with pytest.raises(ValueError, match="http"):
        download_url("file:///etc/hostname", tmp_path)
    with pytest.raises(ValueError, match="filename"):
        download_url("http://127.0.0.1:1/a.bin", tmp_path, filename="../evil")
    with pytest.raises(ValueError, match="md5"):
        download_url("http://127.0.0.1:1/a.bin", tmp_path, md5="xyz")
    with pytest.raises(ValueError, match="file name"):
        download_url("http://127.0.0.1:1/", tmp_path)
    with pytest.raises(TypeError):
        download_url(b"http://x", tmp_path)


def test_mirrors_fall_back_in_order(server, tmp_path):
    server.add("/m2/file.gz", PAYLOAD)
    server.status["/m1/file.gz"] = 500
    path = download_from_mirrors(
        [server.url + "/m1/", server.url + "/m2"], "file.gz", tmp_path, md5=md5(PAYLOAD), retries=0
    )
    assert path.read_bytes() == PAYLOAD
    assert [p for p, _ in server.requests] == ["/m1/file.gz", "/m2/file.gz"]
    with pytest.raises(DownloadError, match="any mirror"):
        download_from_mirrors([server.url + "/m1/", server.url + "/none/"], "file.gz", tmp_path / "x", retries=0)
    with pytest.raises(ChecksumError, match="any mirror"):
        download_from_mirrors([server.url + "/m2/"], "file.gz", tmp_path / "y", md5="1" * 32)


# ------------------------------------------------------------------------------------ archives
def _tar(members: dict[str, bytes], kind=tarfile.REGTYPE, linkname="") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            info.type, info.linkname = kind, linkname
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def test_extract_archive_places_files_and_keeps_existing(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(_tar({"top/a.txt": b"A", "top/sub/b.txt": b"B"}))
    dest = tmp_path / "out"
    (dest / "top").mkdir(parents=True)
    (dest / "top" / "a.txt").write_bytes(b"mine")
    placed = extract_archive(archive, dest)
    assert placed == [dest / "top" / "sub" / "b.txt"]
    assert (dest / "top" / "a.txt").read_bytes() == b"mine"
    assert (dest / "top" / "sub" / "b.txt").read_bytes() == b"B"
    assert sorted(p.name for p in dest.iterdir()) == ["top"]  # the temp folder is gone


@pytest.mark.parametrize("name", ["../escape.txt", "/abs.txt", "a/../../escape.txt"])
def test_extract_archive_refuses_unsafe_paths(tmp_path, name):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(_tar({name: b"x"}))
    with pytest.raises(DatasetError, match="unsafe"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_extract_archive_refuses_links_and_bad_archives(tmp_path):
    archive = tmp_path / "link.tar.gz"
    archive.write_bytes(_tar({"evil": b""}, kind=tarfile.SYMTYPE, linkname="/etc/passwd"))
    with pytest.raises(DatasetError, match="link"):
        extract_archive(archive, tmp_path / "out")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(DatasetError, match="not a readable tar"):
        extract_archive(tmp_path / "junk.tar.gz", tmp_path / "out")


# ------------------------------------------------------------------------------------ datasets
def test_mnist_download_from_local_mirror(server, tmp_path, monkeypatch):
    written, (tr_x, tr_y, te_x, te_y) = write_mnist(tmp_path / "src", n_train=9, n_test=5)
    for name, data in written.items():
        server.add("/mnist/" + name, data)
    monkeypatch.setattr(MNIST, "mirrors", [server.url + "/down/", server.url + "/mnist/"])
    monkeypatch.setattr(MNIST, "resources", [(name, md5(data)) for name, data in written.items()])
    ds = MNIST(tmp_path / "root", train=True, download=True)
    assert sorted(p.name for p in ds.raw_folder.iterdir()) == sorted(written)
    np.testing.assert_array_equal(ds.data[:, 0], tr_x)
    np.testing.assert_array_equal(ds.targets, tr_y)
    n_requests = len(server.requests)
    test = MNIST(tmp_path / "root", train=False, download=True)  # everything is there: no request
    assert len(server.requests) == n_requests
    np.testing.assert_array_equal(test.data[:, 0], te_x)


def test_mnist_download_with_wrong_md5_leaves_nothing(server, tmp_path, monkeypatch):
    written, _ = write_mnist(tmp_path / "src")
    for name, data in written.items():
        server.add("/mnist/" + name, data)
    monkeypatch.setattr(FashionMNIST, "mirrors", [server.url + "/mnist/"])
    monkeypatch.setattr(FashionMNIST, "resources", [(name, "0" * 32) for name in written])
    with pytest.raises(ChecksumError):
        FashionMNIST(tmp_path / "root", download=True)
    assert list((tmp_path / "root" / "FashionMNIST" / "raw").iterdir()) == []


def test_cifar10_download_and_extract(server, tmp_path, monkeypatch):
    archive, contents = cifar_archive(n_per_batch=3)
    server.add("/cifar/cifar-10-python.tar.gz", archive)
    monkeypatch.setattr(CIFAR10, "mirrors", [server.url + "/cifar/"])
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5(archive))
    ds = CIFAR10(tmp_path, train=True, download=True)
    assert len(ds) == 15 and ds.data.shape == (15, 3, 32, 32)
    np.testing.assert_array_equal(ds.data[:3].reshape(3, -1), contents["data_batch_1"][0])
    assert ds.targets.tolist()[:3] == contents["data_batch_1"][1]
    test = CIFAR10(tmp_path, train=False, download=True)
    assert len(test) == 3 and len(server.requests) == 1
    assert (tmp_path / "cifar-10-python.tar.gz").is_file()


def test_cifar10_download_reuses_verified_archive(server, tmp_path, monkeypatch):
    archive, _ = cifar_archive(n_per_batch=2)
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(archive)
    monkeypatch.setattr(CIFAR10, "mirrors", [server.url + "/nothing/"])
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5(archive))
    assert len(CIFAR10(tmp_path, train=False, download=True)) == 2
    assert server.requests == []
