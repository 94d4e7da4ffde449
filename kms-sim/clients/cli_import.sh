#!/usr/bin/env bash
# The AWS CLI runs the documented openssl import procedure against kms-sim, literally:
#
#   bash kms-sim/clients/cli_import.sh http://127.0.0.1:4599
#
# AWS KMS Developer Guide, "Importing key material": step 1 create-key --origin EXTERNAL;
# step 2 get-parameters-for-import (the public key and the import token, base64 in the CLI's
# output, decoded to binary files); step 3 encrypt the key material with openssl (test material
# from `openssl rand` / `openssl genpkey | openssl pkcs8 -topk8 -outform der -nocrypt`,
# RSAES_OAEP_SHA_256 with `openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep
# -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256`, RSA_AES_KEY_WRAP_SHA_256 with
# `openssl enc -id-aes256-wrap-pad -iv A65959A6` plus the OAEP-wrapped AES key in front);
# step 4 import-key-material with --import-type and --expiration-model. Then it uses the keys:
# a symmetric key (encrypt / decrypt, revoke, re-import with KEY_MATERIAL_EXPIRES), an HMAC_256
# key (generate-mac, checked against `openssl dgst -hmac`), an ECC_NIST_P256 and an RSA_2048
# signing key (sign, checked with openssl against get-public-key). Dummy credentials,
# --endpoint-url and --region on every call, nothing but loopback. Exits non-zero on failure.
set -euo pipefail

ENDPOINT="${1:-http://127.0.0.1:4599}"
REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDCLICUSTODIAN AWS_SECRET_ACCESS_KEY=x AWS_PAGER=""
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

kms() { aws kms "$@" --endpoint-url "$ENDPOINT" --region "$REGION"; }
ok() { echo "  ok  $*"; }
fail() { echo "cli_import: $*" >&2; exit 1; }

# Steps 1-2: an EXTERNAL key, its public key and import token as binary files.
create_external() { # create_external [create-key options...] -> key id
  kms create-key --origin EXTERNAL "$@" --query KeyMetadata.KeyId --output text
}
get_parameters() { # get_parameters KEY_ID WRAPPING_ALGORITHM -> PublicKey.bin, ImportToken.bin
  kms get-parameters-for-import --key-id "$1" --wrapping-algorithm "$2" \
    --wrapping-key-spec RSA_2048 --output json > parameters.json
  jq -r .PublicKey parameters.json | base64 --decode > PublicKey.bin
  jq -r .ImportToken parameters.json | base64 --decode > ImportToken.bin
}
# Step 3 (RSAES_OAEP_SHA_256): EncryptedKeyMaterial.bin from the given plaintext material.
oaep_sha256() {
  openssl pkeyutl -encrypt -in "$1" -out EncryptedKeyMaterial.bin \
    -inkey PublicKey.bin -keyform DER -pubin \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
}
# Step 4.
import_material() { # import_material KEY_ID [import-key-material options...]
  local key="$1"
  shift
  kms import-key-material --key-id "$key" \
    --encrypted-key-material fileb://EncryptedKeyMaterial.bin \
    --import-token fileb://ImportToken.bin "$@" > import.json
}
state() { kms describe-key --key-id "$1" --query KeyMetadata.KeyState --output text; }

# --- symmetric encryption key ---
KEY=$(create_external --description "cli openssl import")
[[ "$(state "$KEY")" == PendingImport ]] || fail "a new EXTERNAL key must be PendingImport"
get_parameters "$KEY" RSAES_OAEP_SHA_256
openssl rand -out PlaintextKeyMaterial.bin 32
oaep_sha256 PlaintextKeyMaterial.bin
import_material "$KEY" --import-type NEW_KEY_MATERIAL --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE
MATERIAL_ID=$(jq -r .KeyMaterialId import.json)
[[ "$(state "$KEY")" == Enabled ]] || fail "the key must be Enabled after the import"
printf 'secret for the CLI' > message.txt
kms encrypt --key-id "$KEY" --plaintext fileb://message.txt --query CiphertextBlob --output text \
  | base64 --decode > message.enc
kms decrypt --ciphertext-blob fileb://message.enc --query Plaintext --output text \
  | base64 --decode > message.dec
cmp -s message.txt message.dec || fail "decrypt must return the plaintext"
ok "symmetric key: create-key, get-parameters-for-import, openssl rand + pkeyutl (OAEP SHA-256), import (NEW), encrypt/decrypt"

deleted=$(kms delete-imported-key-material --key-id "$KEY" --query KeyMaterialId --output text)
[[ "$deleted" == "$MATERIAL_ID" ]] || fail "delete must name material $MATERIAL_ID, got $deleted"
[[ "$(state "$KEY")" == PendingImport ]] || fail "the key must be PendingImport after the deletion"
if kms decrypt --ciphertext-blob fileb://message.enc > /dev/null 2> error.txt; then
  fail "decrypt must fail while the material is deleted"
fi
grep -q 'KMSInvalidStateException' error.txt || fail "expected KMSInvalidStateException: $(cat error.txt)"
get_parameters "$KEY" RSAES_OAEP_SHA_256
oaep_sha256 PlaintextKeyMaterial.bin
VALID_TO=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
import_material "$KEY" --import-type EXISTING_KEY_MATERIAL --key-material-id "$MATERIAL_ID" \
  --expiration-model KEY_MATERIAL_EXPIRES --valid-to "$VALID_TO"
[[ "$(kms describe-key --key-id "$KEY" --query KeyMetadata.ExpirationModel --output text)" == KEY_MATERIAL_EXPIRES ]] \
  || fail "ExpirationModel must be KEY_MATERIAL_EXPIRES"
kms decrypt --ciphertext-blob fileb://message.enc --query Plaintext --output text \
  | base64 --decode | cmp -s message.txt - || fail "decrypt must work again after the re-import"
ok "revoke (delete-imported-key-material): decrypt fails; re-import (EXISTING, expires in 30 days): decrypt works"

# --- HMAC_256 key ---
HMAC=$(create_external --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC)
get_parameters "$HMAC" RSAES_OAEP_SHA_256
openssl rand -out HmacKeyMaterial.bin 32
oaep_sha256 HmacKeyMaterial.bin
import_material "$HMAC" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE
kms generate-mac --key-id "$HMAC" --message fileb://message.txt --mac-algorithm HMAC_SHA_256 \
  --query Mac --output text | base64 --decode > mac.bin
expected=$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(xxd -p -c 256 HmacKeyMaterial.bin)" \
  -binary message.txt | xxd -p -c 256)
[[ "$(xxd -p -c 256 mac.bin)" == "$expected" ]] || fail "GenerateMac must equal openssl's HMAC-SHA256"
[[ "$(kms verify-mac --key-id "$HMAC" --message fileb://message.txt --mac-algorithm HMAC_SHA_256 \
  --mac fileb://mac.bin --query MacValid --output text)" == True ]] || fail "verify-mac"
ok "HMAC_256 key: openssl rand material imported; generate-mac equals openssl dgst -hmac; verify-mac"

# --- asymmetric signing keys: verify-able outside KMS with the public key ---
check_signature() { # check_signature KEY_ID SIGNING_ALGORITHM
  kms sign --key-id "$1" --message fileb://message.txt --message-type RAW --signing-algorithm "$2" \
    --query Signature --output text | base64 --decode > signature.bin
  kms get-public-key --key-id "$1" --query PublicKey --output text | base64 --decode > public.der
  openssl dgst -sha256 -verify public.der -keyform DER -signature signature.bin message.txt > /dev/null \
    || fail "openssl must verify the $2 signature of $1 with its public key"
}
ECC=$(create_external --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY)
get_parameters "$ECC" RSAES_OAEP_SHA_256
openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve \
  | openssl pkcs8 -topk8 -outform der -nocrypt > EccPrivateKey.der
oaep_sha256 EccPrivateKey.der
import_material "$ECC" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE
check_signature "$ECC" ECDSA_SHA_256
ok "ECC_NIST_P256 key: openssl genpkey | pkcs8 (DER) imported with OAEP; sign verified by openssl"

RSA=$(create_external --key-spec RSA_2048 --key-usage SIGN_VERIFY)
get_parameters "$RSA" RSA_AES_KEY_WRAP_SHA_256
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
  | openssl pkcs8 -topk8 -outform der -nocrypt > RsaPrivateKey.der
openssl rand -out aes-key.bin 32
openssl enc -id-aes256-wrap-pad -K "$(xxd -p -c 64 aes-key.bin)" -iv A65959A6 \
  -in RsaPrivateKey.der -out key-material-wrapped.bin
openssl pkeyutl -encrypt -in aes-key.bin -out aes-key-wrapped.bin \
  -inkey PublicKey.bin -keyform DER -pubin \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
cat aes-key-wrapped.bin key-material-wrapped.bin > EncryptedKeyMaterial.bin
import_material "$RSA" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE
check_signature "$RSA" RSASSA_PKCS1_V1_5_SHA_256
kms delete-imported-key-material --key-id "$RSA" > /dev/null
if kms sign --key-id "$RSA" --message fileb://message.txt --message-type RAW \
  --signing-algorithm RSASSA_PKCS1_V1_5_SHA_256 > /dev/null 2> error.txt; then
  fail "sign must fail while the material is deleted"
fi
grep -q 'KMSInvalidStateException' error.txt || fail "expected KMSInvalidStateException: $(cat error.txt)"
import_material "$RSA" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE
check_signature "$RSA" RSASSA_PKCS1_V1_5_SHA_256
ok "RSA_2048 key: PKCS#8 wrapped with RSA_AES_KEY_WRAP_SHA_256 (openssl enc -id-aes256-wrap-pad); sign verified by openssl; revoke and re-import"
echo "cli_import: OK"
