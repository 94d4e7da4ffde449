#!/usr/bin/env python3
"""The AWS Encryption SDK for Python against kms-sim, with a KMS master key provider.

    python3 kms-sim/clients/esdk_envelope.py http://127.0.0.1:4599

A key custodian (boto3) creates an EXTERNAL key and imports material; the SDK's
StrictAwsKmsMasterKeyProvider (its botocore session pointed at kms-sim) encrypts and decrypts
(GenerateDataKey with the key ARN, NumberOfBytes and the encryption context; Decrypt with
CiphertextBlob, KeyId and the context; the SDK requires the response KeyId to be the key ARN).
Then the custodian revokes the key (DeleteImportedKeyMaterial): the SDK's decrypt fails with
DecryptKeyError because KMS answers KMSInvalidStateException; re-importing the same material
makes the old message decrypt again. Exits non-zero on any failure.
"""
import logging
import os

import botocore.session

import simclient

url = simclient.endpoint()
# botocore's service-specific endpoint setting: every KMS client of this process (the SDK builds
# its own from the botocore session) goes to kms-sim.
os.environ["AWS_ENDPOINT_URL_KMS"] = url

import aws_encryption_sdk  # noqa: E402
from aws_encryption_sdk.exceptions import DecryptKeyError  # noqa: E402
from aws_encryption_sdk.identifiers import CommitmentPolicy  # noqa: E402

custodian = simclient.session("AKIDESDKCUSTODIAN").client("kms", endpoint_url=url)

arn = custodian.create_key(Origin="EXTERNAL", Description="esdk envelope")["KeyMetadata"]["Arn"]
material = os.urandom(32)
simclient.import_material(custodian, arn, material)
simclient.ok(f"custodian imported material into {arn}")

app_session = botocore.session.Session()
app_session.set_credentials("AKIDESDKAPP", "x")
app_session.set_config_variable("region", simclient.REGION)
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
    key_ids=[arn], botocore_session=app_session
)
client = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)
context = {"tenant": "a", "purpose": "esdk-envelope"}
secret = b"payload protected by an imported key"

ciphertext, _ = client.encrypt(source=secret, key_provider=provider, encryption_context=context)
assert secret not in ciphertext, "the message is encrypted"
plaintext, header = client.decrypt(source=ciphertext, key_provider=provider)
assert plaintext == secret, "round trip"
assert header.encryption_context["tenant"] == "a", header.encryption_context
calls = simclient.counters(url)["successes"]
assert calls.get("GenerateDataKey", 0) >= 1 and calls.get("Decrypt", 0) >= 1, calls
simclient.ok("SDK encrypt + decrypt (GenerateDataKey, Decrypt under the imported key)")

custodian.delete_imported_key_material(KeyId=arn)
# The SDK logs the failed KMS call with a traceback before raising: expected here, not noise.
logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)
try:
    client.decrypt(source=ciphertext, key_provider=provider)
    raise AssertionError("decryption must fail while the material is deleted")
except DecryptKeyError as e:
    simclient.ok(f"after revocation the SDK cannot decrypt: {type(e).__name__}: {e}")
errors = simclient.counters(url)["errors"]
assert errors.get("Decrypt", 0) >= 1, errors
response = simclient.expect_error(
    "KMSInvalidStateException", custodian.encrypt, KeyId=arn, Plaintext=b"x"
)
assert response["Error"]["Message"] == f"{arn} is pending import.", response["Error"]

simclient.import_material(custodian, arn, material, ImportType="EXISTING_KEY_MATERIAL")
plaintext, _ = client.decrypt(source=ciphertext, key_provider=provider)
assert plaintext == secret
simclient.ok("after re-import of the same material the SDK decrypts the old message again")
print("esdk_envelope: OK")
