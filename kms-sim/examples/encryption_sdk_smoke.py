#!/usr/bin/env python3
"""Manual check that the AWS Encryption SDK for Python works against kms-sim.

Start the simulator, then run this script (needs aws-encryption-sdk, boto3, cryptography):

    cargo run -p kms-sim -- --port 4599 &
    python3 kms-sim/examples/encryption_sdk_smoke.py http://127.0.0.1:4599

It creates an EXTERNAL key, imports material (RSA-OAEP wrapped client-side), then encrypts and
decrypts with the SDK's strict KMS master key provider (GenerateDataKey / Encrypt / Decrypt with
the key ARN and an encryption context), revokes the key (DeleteImportedKeyMaterial) and shows
that decryption stops, re-imports the same material and decrypts again. It prints the KMS
operations the SDK called (from kms-sim's counters). Not part of `cargo test`.
"""
import json
import os
import sys
import urllib.request

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4599"
# The Encryption SDK builds its own boto3 KMS clients: point them at kms-sim.
os.environ["AWS_ENDPOINT_URL_KMS"] = endpoint
os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIDESDK")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "x")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import aws_encryption_sdk  # noqa: E402
import boto3  # noqa: E402
from aws_encryption_sdk.identifiers import CommitmentPolicy  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

kms = boto3.client("kms")


def import_material(key_id, material):
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=public.encrypt(material, oaep),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )


def counters():
    with urllib.request.urlopen(endpoint + "/_sim/counters") as r:
        return json.load(r)


arn = kms.create_key(Origin="EXTERNAL", Description="esdk smoke")["KeyMetadata"]["Arn"]
material = os.urandom(32)
import_material(arn, material)

client = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn])
context = {"tenant": "a", "purpose": "esdk-smoke"}
secret = b"payload protected by an imported key"

ciphertext, header = client.encrypt(source=secret, key_provider=provider, encryption_context=context)
plaintext, decrypted_header = client.decrypt(source=ciphertext, key_provider=provider)
assert plaintext == secret, "round trip"
assert decrypted_header.encryption_context["tenant"] == "a"
print("encrypt/decrypt with the Encryption SDK: ok")

kms.delete_imported_key_material(KeyId=arn)
try:
    client.decrypt(source=ciphertext, key_provider=provider)
    raise SystemExit("decryption must fail while the material is deleted")
except aws_encryption_sdk.exceptions.AWSEncryptionSDKClientError as e:
    print(f"after revocation: {type(e).__name__}: {e}")

import_material(arn, material)
plaintext, _ = client.decrypt(source=ciphertext, key_provider=provider)
assert plaintext == secret
print("after re-import of the same material: ok")

ops = {
    op: n
    for op, n in counters().get("calls", {}).items()
    if op in ("GenerateDataKey", "Encrypt", "Decrypt")
}
print("KMS calls made by the SDK:", ops)
