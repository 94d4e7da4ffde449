#!/usr/bin/env python3
"""Manual cross-check of kms-sim's wire format with botocore (boto3 + cryptography).

Start the simulator, then run this script:

    cargo run -p kms-sim -- --port 4566 &
    python3 kms-sim/examples/boto3_smoke.py http://127.0.0.1:4566

It walks the BYOK lifecycle with the real botocore client (which validates every response
against the KMS service model): create, import parameters, client-side RSA-OAEP wrapping,
import, encrypt, delete (revoke), the error a revoked key gives, re-import, decrypt, rotation,
and an EventBridge PutEvents. Not part of `cargo test` (it needs Python packages).
"""
import sys

import boto3
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4566"
session = boto3.Session(aws_access_key_id="AKIDBOTO", aws_secret_access_key="x", region_name="us-east-1")
kms = session.client("kms", endpoint_url=endpoint)
events = session.client("events", endpoint_url=endpoint)


def wrap(params, material):
    public = serialization.load_der_public_key(params["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return public.encrypt(material, oaep)


def imp(key_id, material, **extra):
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    return kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params, material),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        **extra,
    )


key = kms.create_key(Origin="EXTERNAL", Description="boto3 smoke")["KeyMetadata"]
assert key["KeyState"] == "PendingImport", key
first = imp(key["KeyId"], b"\x11" * 32)
assert first["KeyId"] == key["Arn"], first
blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hello")["CiphertextBlob"]

deleted = kms.delete_imported_key_material(KeyId=key["Arn"])
assert deleted["KeyMaterialId"] == first["KeyMaterialId"], deleted
meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
assert meta["KeyState"] == "PendingImport" and "ExpirationModel" not in meta, meta
try:
    kms.decrypt(CiphertextBlob=blob)
    raise SystemExit("decrypt of a revoked key must fail")
except ClientError as e:
    assert e.response["Error"]["Code"] == "KMSInvalidStateException", e.response
    assert e.response["Error"]["Message"] == f"{key['Arn']} is pending import.", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e.response["ResponseMetadata"]["RequestId"], e.response

imp(key["KeyId"], b"\x11" * 32, ImportType="EXISTING_KEY_MATERIAL")
assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
second = imp(key["KeyId"], b"\x22" * 32, ImportType="NEW_KEY_MATERIAL")
kms.rotate_key_on_demand(KeyId=key["KeyId"])
rotations = kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
states = [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in rotations]
assert states == [(first["KeyMaterialId"], "NON_CURRENT"), (second["KeyMaterialId"], "CURRENT")], states
assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"

keys = [k for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}) for k in page["Keys"]]
assert any(k["KeyId"] == key["KeyId"] for k in keys), keys

out = events.put_events(Entries=[{"Source": "smoke", "DetailType": "Smoke", "Detail": "{}"}])
assert out["FailedEntryCount"] == 0 and out["Entries"][0]["EventId"], out
print("boto3 smoke: OK", key["Arn"])
