"""A throwaway certificate authority and a C2PA signing certificate, made at test time.

The leaf follows the C2PA certificate profile (not a CA, digitalSignature, emailProtection
extended key usage, key identifiers) so c2pa's own validation accepts it; the CA is what a
test passes as the trust anchor.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_USAGE = {"content_commitment": False, "key_encipherment": False, "data_encipherment": False,
          "key_agreement": False, "encipher_only": False, "decipher_only": False, "crl_sign": False}


@dataclass(frozen=True)
class TestPki:
    ca_pem: bytes
    chain_pem: bytes  # leaf first, then the CA
    key_pem: bytes
    key: ec.EllipticCurvePrivateKey
    common_name: str
    organisation: str

    def write(self, folder: Path) -> tuple[Path, Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = folder / "chain.pem", folder / "key.pem", folder / "ca.pem"
        for path, data in zip(paths, (self.chain_pem, self.key_pem, self.ca_pem), strict=True):
            path.write_bytes(data)
        return paths


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])


def make_pki(*, common_name: str = "Test Blog Signer", organisation: str = "Test Blog") -> TestPki:
    # Valid from well before any frozen test clock to well after it (tests/clock.py moves it around).
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    end = datetime.datetime(2040, 1, 1, tzinfo=datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{organisation} Test CA", organisation)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, **{**_USAGE, "crl_sign": True}),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name(common_name, organisation)).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, **_USAGE), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return TestPki(
        ca_pem=ca.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + ca.public_bytes(pem),
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        key=key, common_name=common_name, organisation=organisation,
    )


# Fixtures for the tests that sign with a PKI made once per module (import both by name).


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_pki()


@pytest.fixture
def signing(settings, tmp_path, pki) -> TestPki:
    """The site signs its files with `pki`'s certificate and trusts its CA."""
    chain, key, ca = pki.write(tmp_path / "pki")
    settings.BLOGIMAGES_C2PA_CERT, settings.BLOGIMAGES_C2PA_KEY = str(chain), str(key)
    settings.BLOGIMAGES_C2PA_TRUST_ANCHORS = str(ca)
    return pki
