"""Shared by the real-client checks: a boto3 session pointed at kms-sim, a key custodian's import
(client-side RSA-OAEP wrapping with `cryptography`), expected errors, kms-sim's counters.

Every check takes kms-sim's endpoint as its first argument (default http://127.0.0.1:4599),
uses dummy credentials and talks to nothing but that endpoint.
"""
import json
import sys
import urllib.request

import boto3
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

REGION = "us-east-1"


def endpoint():
    """kms-sim's URL: the first command-line argument."""
    return sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4599"


def session(access_key_id):
    """A boto3 session with dummy credentials (kms-sim maps the access key to an account)."""
    return boto3.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key="x", region_name=REGION
    )


def import_material(kms, key_id, material, **extra):
    """GetParametersForImport (RSAES_OAEP_SHA_256, RSA_2048), wrap `material` with the public
    key, ImportKeyMaterial (material that does not expire unless `extra` says otherwise)."""
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    extra.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=public.encrypt(material, oaep),
        **extra,
    )


def expect_error(code, call, *args, **kwargs):
    """Runs `call`, which must fail with the KMS error `code`; returns the error response."""
    try:
        out = call(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response['Error']}"
        return e.response
    raise AssertionError(f"expected {code}, the call succeeded: {out}")


def counters(url):
    """kms-sim's call counters (GET /_sim/counters)."""
    with urllib.request.urlopen(url + "/_sim/counters") as r:
        return json.load(r)


def ok(what):
    print(f"  ok  {what}")
