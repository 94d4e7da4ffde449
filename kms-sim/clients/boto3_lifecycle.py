#!/usr/bin/env python3
"""boto3 runs the BYOK lifecycle against kms-sim: import, delete, re-import, rotate.

    python3 kms-sim/clients/boto3_lifecycle.py http://127.0.0.1:4599

botocore validates every response against the KMS service model. Steps: CreateKey (EXTERNAL,
PendingImport), import (ImportType NEW_KEY_MATERIAL), Encrypt, DeleteImportedKeyMaterial (the
response names the material; the key is PendingImport without ExpirationModel; Decrypt fails
with KMSInvalidStateException "<arn> is pending import."), re-import (EXISTING_KEY_MATERIAL)
and Decrypt, the same bytes again as NEW_KEY_MATERIAL (IncorrectKeyMaterialException), new
material (NEW_KEY_MATERIAL, PENDING_ROTATION), RotateKeyOnDemand, ListKeyRotations (the old
material NON_CURRENT, the new one CURRENT), old ciphertexts still decrypt, deleting one
material by KeyMaterialId, paging ListKeys, and an EventBridge PutEvents. Exits non-zero on any
failure.
"""
import simclient

url = simclient.endpoint()
session = simclient.session("AKIDBOTO")
kms = session.client("kms", endpoint_url=url)
events = session.client("events", endpoint_url=url)

key = kms.create_key(Origin="EXTERNAL", Description="boto3 lifecycle")["KeyMetadata"]
assert key["KeyState"] == "PendingImport", key
arn = key["Arn"]
first = simclient.import_material(
    kms, key["KeyId"], b"\x11" * 32, ImportType="NEW_KEY_MATERIAL",
    KeyMaterialDescription="HSM batch 1",
)
assert first["KeyId"] == arn, first
meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
assert meta["KeyState"] == "Enabled" and meta["CurrentKeyMaterialId"] == first["KeyMaterialId"], meta
blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hello")["CiphertextBlob"]
simclient.ok("create EXTERNAL key, import NEW_KEY_MATERIAL, encrypt")

deleted = kms.delete_imported_key_material(KeyId=arn)
deleted.pop("ResponseMetadata")
assert deleted == {"KeyId": arn, "KeyMaterialId": first["KeyMaterialId"]}, deleted
meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
assert meta["KeyState"] == "PendingImport" and "ExpirationModel" not in meta, meta
error = simclient.expect_error("KMSInvalidStateException", kms.decrypt, CiphertextBlob=blob)
assert error["Error"]["Message"] == f"{arn} is pending import.", error
assert error["ResponseMetadata"]["HTTPStatusCode"] == 400 and error["ResponseMetadata"]["RequestId"]
simclient.ok("DeleteImportedKeyMaterial: PendingImport, decrypt fails (KMSInvalidStateException)")

again = simclient.import_material(kms, key["KeyId"], b"\x11" * 32, ImportType="EXISTING_KEY_MATERIAL")
assert again["KeyMaterialId"] == first["KeyMaterialId"], again
assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
simclient.expect_error(
    "IncorrectKeyMaterialException", simclient.import_material, kms, key["KeyId"], b"\x11" * 32,
    ImportType="NEW_KEY_MATERIAL",
)
simclient.ok("re-import EXISTING_KEY_MATERIAL: decrypts again; same bytes as NEW refused")

second = simclient.import_material(kms, key["KeyId"], b"\x22" * 32, ImportType="NEW_KEY_MATERIAL")
pending = kms.list_key_rotations(KeyId=arn, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in pending] == [
    (first["KeyMaterialId"], "CURRENT"), (second["KeyMaterialId"], "PENDING_ROTATION")], pending
rotated = kms.rotate_key_on_demand(KeyId=key["KeyId"])
assert rotated["KeyId"] == arn, rotated
rotations = kms.list_key_rotations(KeyId=arn, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
states = [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in rotations]
assert states == [(first["KeyMaterialId"], "NON_CURRENT"), (second["KeyMaterialId"], "CURRENT")], states
assert all(r["RotationType"] == "ON_DEMAND" for r in rotations if "RotationType" in r), rotations
assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
new_blob = kms.encrypt(KeyId=arn, Plaintext=b"rotated")["CiphertextBlob"]
assert kms.decrypt(CiphertextBlob=new_blob)["KeyMaterialId"] == second["KeyMaterialId"]
simclient.ok("NEW material, RotateKeyOnDemand, ListKeyRotations; old ciphertexts still decrypt")

kms.delete_imported_key_material(KeyId=arn, KeyMaterialId=first["KeyMaterialId"])
assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingImport"
simclient.expect_error("KMSInvalidStateException", kms.decrypt, CiphertextBlob=new_blob)
simclient.import_material(kms, arn, b"\x11" * 32, ImportType="EXISTING_KEY_MATERIAL",
                          KeyMaterialId=first["KeyMaterialId"])
assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"rotated"
simclient.ok("deleting the NON_CURRENT material by KeyMaterialId revokes the key; re-import restores")

keys = [k for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2})
        for k in page["Keys"]]
assert any(k["KeyId"] == key["KeyId"] for k in keys), keys
out = events.put_events(Entries=[{"Source": "lifecycle", "DetailType": "Check", "Detail": "{}"}])
assert out["FailedEntryCount"] == 0 and out["Entries"][0]["EventId"], out
simclient.ok("ListKeys paging, EventBridge PutEvents")
print("boto3_lifecycle: OK", arn)
