"""A bundle proves more than agreeing with itself: its digest in the minutes, a centre's signature,
and reading someone else's bundle costs bounded memory (issue: a hostile exam room, part 4).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from typer.testing import CliRunner

from grader import bundle
from grader.model import Msg
from tests.test_bundle import cli, graded_session, no_pdf, rewrite  # noqa: F401 - fixtures

DIGEST = re.compile(r"procès-verbal de la session : ([0-9a-f]{64})")


def _exported(cli, tmp_path: Path, *extra: str) -> tuple[Path, str]:  # type: ignore[no-untyped-def]  # noqa: F811
    store, run_id = graded_session(tmp_path)
    store.close()
    done = CliRunner().invoke(cli, ["export", run_id, "--session", str(tmp_path / "session"), *extra])
    assert done.exit_code == 0, done.output
    found = DIGEST.search(done.output)
    assert found, done.output
    return tmp_path / "session" / f"preuves-{run_id}.zip", found.group(1)


def _rehashed(src: Path, dst: Path) -> Path:
    """The attack ``verify`` alone cannot see: evidence edited, then every hash of the manifest recomputed."""
    with zipfile.ZipFile(src) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    doc = json.loads(files["evidence.json"])
    doc["results"][0]["status"] = "conforme"
    files["evidence.json"] = json.dumps(doc).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["files"]["evidence.json"] = {"sha256": hashlib.sha256(files["evidence.json"]).hexdigest(),
                                          "size": len(files["evidence.json"])}
    files["manifest.json"] = json.dumps(manifest).encode()
    return rewrite(src, dst, files)


def test_export_prints_the_digest_and_verify_expect_holds_the_bundle_to_it(cli, tmp_path: Path) -> None:  # noqa: F811
    path, digest = _exported(cli, tmp_path)
    assert digest == bundle.digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    ok = CliRunner().invoke(cli, ["verify", str(path), "--expect", digest.upper()])
    assert ok.exit_code == 0 and "Empreinte conforme au procès-verbal" in ok.output
    forged = _rehashed(path, tmp_path / "forged.zip")
    assert bundle.verify(forged) == []  # it agrees with itself...
    bad = CliRunner().invoke(cli, ["verify", str(forged), "--expect", digest])
    assert bad.exit_code == 1 and "ce n'est pas le paquet exporté" in bad.output  # ...not with the minutes


def test_a_centre_signature_is_checked_with_its_public_key(cli, tmp_path: Path) -> None:  # noqa: F811
    key = Ed25519PrivateKey.generate()
    private, public = tmp_path / "centre.pem", tmp_path / "centre.pub.pem"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    path, _ = _exported(cli, tmp_path, "--sign", str(private))
    assert Path(str(path) + ".sig").is_file()
    ok = CliRunner().invoke(cli, ["verify", str(path), "--public", str(public)])
    assert ok.exit_code == 0 and "Signature valide" in ok.output
    forged = _rehashed(path, tmp_path / "forged.zip")
    Path(str(forged) + ".sig").write_bytes(Path(str(path) + ".sig").read_bytes())
    bad = CliRunner().invoke(cli, ["verify", str(forged), "--public", str(public)])
    assert bad.exit_code == 1 and "ne correspond pas" in bad.output
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "other.pem").write_bytes(other)
    assert CliRunner().invoke(cli, ["verify", str(path), "--public", str(tmp_path / "other.pem")]).exit_code == 1


def test_a_bundle_that_would_unpack_into_gigabytes_is_refused_before_reading(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("evidence.json", b"\0" * (40 * 1024 * 1024))  # ~40 KiB on disk, a ratio past 1000
    assert bomb.stat().st_size < 1024 * 1024
    problems = bundle.verify(bomb)
    assert problems and all("paquet refusé" in p for p in problems)
    with pytest.raises(bundle.BundleError):
        bundle.load(bomb, check=False)


def test_message_templates_read_back_ask_for_no_width_or_precision() -> None:
    assert Msg.from_json({"id": "{seconds:g} s", "args": {"seconds": 2}}) == "2 s"
    for template in ("{x:>999999999}", "{x:.99999}", "{x!r}"):
        with pytest.raises(ValueError):
            Msg.from_json({"id": template, "args": {"x": "a"}})
