#!/usr/bin/env python3
"""Interop peer: the official AWS Encryption SDK for Python (aws-encryption-sdk).

Reads one JSON job on stdin and writes one JSON answer on stdout, so that phiveil's
tests (Rust and JavaScript) can exchange messages with the official SDK.

Job:  {"op": "encrypt" | "decrypt",
       "key": {"namespace": str, "name": str, "key_b64": str}
            | {"ecdh": "ephemeral" | "static" | "discovery", "curve": "P256" | "P384",
               "private_pkcs8_b64": str, "recipient_spki_b64": str},
       "cases": [...]}
encrypt case: {"plaintext_b64": str, "context": {str: str}, "frame_length": int,
               "suite": "0478" | "0578" (default "0478")}
decrypt case: {"ciphertext_b64": str}
Answer: {"sdk": "python <version>", "results": [{"ciphertext_b64"} | {"plaintext_b64",
         "context"} | {"error": str}]}

Commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT, suites
AES_256_GCM_HKDF_SHA512_COMMIT_KEY (+ _ECDSA_P384), raw AES master key (the ESDK raw AES keyring's
wire format) or the Material Providers Library's raw ECDH keyring (ephemeral-static,
static-static or public-key discovery; private keys arrive as PKCS #8 DER and are
handed to the library as the PEM it requires). Python needs frame lengths that are multiples of 16; 0 = non-framed.
"""
import base64
import json
import sys
import warnings

warnings.filterwarnings("ignore")

import aws_encryption_sdk  # noqa: E402
from aws_encryption_sdk.identifiers import (  # noqa: E402
    Algorithm,
    CommitmentPolicy,
    EncryptionKeyType,
    WrappingAlgorithm,
)
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey  # noqa: E402
from aws_encryption_sdk.key_providers.raw import RawMasterKey  # noqa: E402

SUITES = {
    "0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}

WRAPPING = {
    16: WrappingAlgorithm.AES_128_GCM_IV12_TAG16_NO_PADDING,
    24: WrappingAlgorithm.AES_192_GCM_IV12_TAG16_NO_PADDING,
    32: WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
}


def master_key(spec):
    raw = base64.b64decode(spec["key_b64"])
    return RawMasterKey(
        provider_id=spec["namespace"],
        key_id=spec["name"].encode("utf-8"),
        wrapping_key=WrappingKey(
            wrapping_algorithm=WRAPPING[len(raw)],
            wrapping_key=raw,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        ),
    )


def ecdh_keyring(spec):
    """The official raw ECDH keyring (aws-cryptographic-material-providers)."""
    from cryptography.hazmat.primitives import serialization
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import (
        CreateRawEcdhKeyringInput,
        EphemeralPrivateKeyToStaticPublicKeyInput,
        PublicKeyDiscoveryInput,
        RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey,
        RawEcdhStaticConfigurationsPublicKeyDiscovery,
        RawEcdhStaticConfigurationsRawPrivateKeyToStaticPublicKey,
        RawPrivateKeyToStaticPublicKeyInput,
    )

    def pem(b64):
        key = serialization.load_der_private_key(base64.b64decode(b64), None)
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    scheme = spec["ecdh"]
    if scheme == "ephemeral":
        config = RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey(
            EphemeralPrivateKeyToStaticPublicKeyInput(
                recipient_public_key=base64.b64decode(spec["recipient_spki_b64"])
            )
        )
    elif scheme == "static":
        config = RawEcdhStaticConfigurationsRawPrivateKeyToStaticPublicKey(
            RawPrivateKeyToStaticPublicKeyInput(
                sender_static_private_key=pem(spec["private_pkcs8_b64"]),
                recipient_public_key=base64.b64decode(spec["recipient_spki_b64"]),
            )
        )
    else:
        config = RawEcdhStaticConfigurationsPublicKeyDiscovery(
            PublicKeyDiscoveryInput(recipient_static_private_key=pem(spec["private_pkcs8_b64"]))
        )
    mpl = AwsCryptographicMaterialProviders(MaterialProvidersConfig())
    return mpl.create_raw_ecdh_keyring(
        CreateRawEcdhKeyringInput(
            key_agreement_scheme=config, curve_spec="ECC_NIST_" + spec["curve"]
        )
    )


def main():
    job = json.load(sys.stdin)
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    if "ecdh" in job["key"]:
        keys = {"keyring": ecdh_keyring(job["key"])}
    else:
        keys = {"key_provider": master_key(job["key"])}
    results = []
    for case in job["cases"]:
        try:
            if job["op"] == "encrypt":
                ct, _ = client.encrypt(
                    source=base64.b64decode(case["plaintext_b64"]),
                    encryption_context=case.get("context", {}),
                    frame_length=case.get("frame_length", 4096),
                    algorithm=SUITES[case.get("suite", "0478")],
                    **keys,
                )
                results.append({"ciphertext_b64": base64.b64encode(ct).decode()})
            else:
                pt, header = client.decrypt(
                    source=base64.b64decode(case["ciphertext_b64"]), **keys
                )
                results.append(
                    {
                        "plaintext_b64": base64.b64encode(pt).decode(),
                        "context": dict(header.encryption_context),
                    }
                )
        except Exception as e:  # noqa: BLE001 - every failure is reported per case
            results.append({"error": f"{type(e).__name__}: {e}"})
    json.dump({"sdk": f"python {aws_encryption_sdk.__version__}", "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
