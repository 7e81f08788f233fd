//! Interoperability with the official AWS Encryption SDKs (real peers installed by
//! `scripts/setup.sh`): messages phiveil writes decrypt with
//! aws-encryption-sdk (Python) and @aws-crypto/client-node, and theirs decrypt with
//! phiveil — across frame lengths, empty and exact-multiple bodies, wrapping-key
//! sizes and encryption contexts with non-ASCII keys and values.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use phiveil_core::esdk::{
    self, AlgorithmSuite, Curve, DecryptOptions, EcPrivateKey, EcPublicKey, EncryptOptions,
    EncryptionContext, KeyAgreement, MultiKeyring, RawAesKeyring, RawEcdhKeyring,
};
use phiveil_core::secret::WrappingKey;
use phiveil_tests::Peer;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

const NAMESPACE: &str = "phiveil-interop";
const NAME: &str = "patient-key-1";

fn contexts() -> Vec<EncryptionContext> {
    let mut plain = EncryptionContext::new();
    plain.insert("patient".into(), "p-0001".into());
    plain.insert("record_type".into(), "vitals".into());
    plain.insert("study".into(), "s-42".into());
    let mut intl = EncryptionContext::new();
    intl.insert("pätient".into(), "Zoë Ünal ✓".into());
    intl.insert("日本".into(), "東京".into());
    intl.insert("Record".into(), "A".into());
    intl.insert("record".into(), "b".into());
    intl.insert("emoji 🩺".into(), "🎉".into());
    intl.insert("Zz".into(), "".into());
    vec![EncryptionContext::new(), plain, intl]
}

fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// (frame length, plaintext lengths) pairs: empty, short, one byte off a frame,
/// exactly one and several frames, and longer.
fn shapes(frame_lengths: &[u32]) -> Vec<(u32, usize)> {
    let mut out = Vec::new();
    for &f in frame_lengths {
        let fl = f as usize;
        for len in [0, 1, fl.saturating_sub(1), fl, fl + 1, 3 * fl, 2 * fl + 17] {
            out.push((f, len));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn key_spec(key: &[u8]) -> Value {
    json!({"namespace": NAMESPACE, "name": NAME, "key_b64": B64.encode(key)})
}

fn keyring(key: &[u8]) -> RawAesKeyring {
    RawAesKeyring::new(NAMESPACE, NAME, WrappingKey::from_slice(key).unwrap()).unwrap()
}

fn phiveil_to_peer(peer: Peer, frame_lengths: &[u32], key: &[u8], suite: AlgorithmSuite) {
    to_peer(peer, frame_lengths, &keyring(key), &key_spec(key), suite);
}

/// Messages phiveil encrypts with `kr` decrypt with `peer` holding `peer_key`.
fn to_peer(
    peer: Peer,
    frame_lengths: &[u32],
    kr: &dyn esdk::MaterialsProvider,
    peer_key: &Value,
    suite: AlgorithmSuite,
) {
    if Peer::skipped() {
        return;
    }
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for (i, (frame, len)) in shapes(frame_lengths).into_iter().enumerate() {
        for ctx in contexts() {
            let pt = plaintext(len, i as u64);
            let opts = EncryptOptions {
                frame_length: frame,
                suite,
                ..EncryptOptions::default()
            };
            let msg = esdk::encrypt(kr, &pt, &ctx, &opts, &mut rand_core::OsRng).unwrap();
            cases.push(json!({"ciphertext_b64": B64.encode(&msg)}));
            expected.push((pt, ctx, frame));
        }
    }
    let answer = peer.run(&json!({"op": "decrypt", "key": peer_key, "cases": cases}));
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), expected.len());
    for (r, (pt, ctx, frame)) in results.iter().zip(&expected) {
        assert!(
            r.get("error").is_none(),
            "{} could not decrypt a phiveil message (frame {frame}, {} bytes): {}",
            answer["sdk"],
            pt.len(),
            r["error"]
        );
        assert_eq!(
            &B64.decode(r["plaintext_b64"].as_str().unwrap()).unwrap(),
            pt
        );
        let got: EncryptionContext = serde_json::from_value(r["context"].clone()).unwrap();
        assert_eq!(&without_public_key(&got, suite), ctx);
    }
}

fn peer_to_phiveil(peer: Peer, frame_lengths: &[u32], key: &[u8], suite: AlgorithmSuite) {
    from_peer(peer, frame_lengths, &key_spec(key), &keyring(key), suite);
}

/// Messages `peer` encrypts holding `peer_key` decrypt with phiveil's `kr`, whole and
/// streamed.
fn from_peer(
    peer: Peer,
    frame_lengths: &[u32],
    peer_key: &Value,
    kr: &dyn esdk::MaterialsProvider,
    suite: AlgorithmSuite,
) {
    if Peer::skipped() {
        return;
    }
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for (i, (frame, len)) in shapes(frame_lengths).into_iter().enumerate() {
        for ctx in contexts() {
            let pt = plaintext(len, 1000 + i as u64);
            cases.push(
                json!({"plaintext_b64": B64.encode(&pt), "context": ctx, "frame_length": frame,
                "suite": format!("{:04x}", suite.id())}),
            );
            expected.push((pt, ctx, frame));
        }
    }
    let answer = peer.run(&json!({"op": "encrypt", "key": peer_key, "cases": cases}));
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), expected.len());
    for (r, (pt, ctx, frame)) in results.iter().zip(&expected) {
        assert!(
            r.get("error").is_none(),
            "{} failed to encrypt: {}",
            answer["sdk"],
            r["error"]
        );
        let msg = B64.decode(r["ciphertext_b64"].as_str().unwrap()).unwrap();
        let out =
            esdk::decrypt(kr, &msg, &DecryptOptions::expecting(ctx.clone())).unwrap_or_else(|e| {
                panic!(
                    "phiveil could not decrypt {} (frame {frame}, {} bytes): {e}",
                    answer["sdk"],
                    pt.len()
                )
            });
        assert_eq!(&out.plaintext, pt);
        assert_eq!(out.info.suite, suite);
        assert_eq!(&without_public_key(&out.info.context, suite), ctx);
        // Streaming in small chunks gives the same plaintext.
        let mut dec = esdk::StreamDecryptor::new(kr, ctx.clone(), Default::default());
        let mut streamed = Vec::new();
        for chunk in msg.chunks(97) {
            dec.update(chunk, &mut streamed).unwrap();
        }
        dec.finish(&mut streamed).unwrap();
        assert_eq!(&streamed, pt);
    }
}

/// The context without the signing suite's `aws-crypto-public-key`, which must be
/// present exactly for the signing suite.
fn without_public_key(ctx: &EncryptionContext, suite: AlgorithmSuite) -> EncryptionContext {
    let mut c = ctx.clone();
    let pk = c.remove(esdk::signature::PUBLIC_KEY_CONTEXT_KEY);
    assert_eq!(pk.is_some(), suite.is_signing());
    c
}

const COMMIT: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;
const SIGNED: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384;

const KEY_256: [u8; 32] = [0x11; 32];
const KEY_192: [u8; 24] = [0x22; 24];
const KEY_128: [u8; 16] = [0x33; 16];

#[test]
fn phiveil_messages_decrypt_with_python_sdk() {
    phiveil_to_peer(Peer::Python, &[128, 4096], &KEY_256, COMMIT);
}

#[test]
fn python_sdk_messages_decrypt_with_phiveil() {
    // 0 makes Python write a non-framed body.
    peer_to_phiveil(Peer::Python, &[0, 128, 4096], &KEY_256, COMMIT);
}

#[test]
fn python_sdk_interop_with_aes128_and_aes192_wrapping_keys() {
    phiveil_to_peer(Peer::Python, &[256], &KEY_128, COMMIT);
    peer_to_phiveil(Peer::Python, &[256], &KEY_192, COMMIT);
}

#[test]
fn phiveil_messages_decrypt_with_node_sdk() {
    phiveil_to_peer(Peer::Node, &[1, 7, 128, 4096], &KEY_256, COMMIT);
}

#[test]
fn node_sdk_messages_decrypt_with_phiveil() {
    peer_to_phiveil(Peer::Node, &[1, 7, 128, 4096], &KEY_256, COMMIT);
}

#[test]
fn signed_suite_0578_interop_with_python_sdk() {
    phiveil_to_peer(Peer::Python, &[128], &KEY_256, SIGNED);
    peer_to_phiveil(Peer::Python, &[0, 128], &KEY_256, SIGNED);
}

/// 0x0578 is the official JavaScript SDK's default suite.
#[test]
fn signed_suite_0578_interop_with_node_sdk() {
    phiveil_to_peer(Peer::Node, &[7, 4096], &KEY_256, SIGNED);
    peer_to_phiveil(Peer::Node, &[7, 4096], &KEY_256, SIGNED);
}

#[test]
fn node_sdk_interop_with_aes128_wrapping_key() {
    phiveil_to_peer(Peer::Node, &[100], &KEY_128, COMMIT);
    peer_to_phiveil(Peer::Node, &[100], &KEY_128, COMMIT);
}

/// A message wrapped for two keyrings decrypts with the official SDKs holding only
/// the second key.
#[test]
fn multi_keyring_child_key_decrypts_with_both_sdks() {
    if Peer::skipped() {
        return;
    }
    let first = RawAesKeyring::new(
        NAMESPACE,
        "clinic-key",
        WrappingKey::from_slice(&[0x44; 32]).unwrap(),
    )
    .unwrap();
    let second = keyring(&KEY_256);
    let multi = MultiKeyring::new(Some(Box::new(first)), vec![Box::new(second)]).unwrap();
    let ctx = contexts().pop().unwrap();
    let msg = esdk::encrypt(
        &multi,
        b"two recipients",
        &ctx,
        &EncryptOptions::default(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let header = esdk::Header::parse(&msg, &Default::default()).unwrap().0;
    assert_eq!(header.encrypted_data_keys.len(), 2);
    for peer in [Peer::Python, Peer::Node] {
        let answer = peer.run(&json!({"op": "decrypt", "key": key_spec(&KEY_256),
            "cases": [{"ciphertext_b64": B64.encode(&msg)}]}));
        let r = &answer["results"][0];
        assert!(
            r.get("error").is_none(),
            "{}: {}",
            answer["sdk"],
            r["error"]
        );
        assert_eq!(
            B64.decode(r["plaintext_b64"].as_str().unwrap()).unwrap(),
            b"two recipients"
        );
    }
}

/// Both official SDKs accept one extra byte after an unsigned message; the ESDK
/// specification says leftover bytes must fail. phiveil follows the specification.
#[test]
fn trailing_byte_is_refused_per_spec_although_official_sdks_accept_it() {
    if Peer::skipped() {
        return;
    }
    let kr = keyring(&KEY_256);
    let ctx = contexts()[1].clone();
    let mut msg = esdk::encrypt(
        &kr,
        b"record",
        &ctx,
        &EncryptOptions::default(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    msg.push(0);
    assert_eq!(
        esdk::decrypt(&kr, &msg, &DecryptOptions::default()).unwrap_err(),
        phiveil_core::Error::TrailingBytes
    );
    // Record what the peers do, for the report; the assertion is on phiveil.
    for peer in [Peer::Python, Peer::Node] {
        let answer = peer.run(&json!({"op": "decrypt", "key": key_spec(&KEY_256),
            "cases": [{"ciphertext_b64": B64.encode(&msg)}]}));
        eprintln!(
            "{}: trailing byte -> {}",
            answer["sdk"], answer["results"][0]
        );
    }
}

// The raw ECDH keyring against the Material Providers Library's (Python): every scheme,
// both curves, both directions, with and without the signing suite.

fn ecdh_spec(
    scheme: &str,
    curve: Curve,
    private: Option<&EcPrivateKey>,
    recipient: Option<&EcPublicKey>,
) -> Value {
    json!({
        "ecdh": scheme,
        "curve": format!("{curve:?}"),
        "private_pkcs8_b64": private.map(|k| B64.encode(k.to_pkcs8_der().unwrap().as_slice())),
        "recipient_spki_b64": recipient.map(|k| B64.encode(k.to_spki_der().unwrap())),
    })
}

fn ecdh(scheme: KeyAgreement) -> RawEcdhKeyring {
    RawEcdhKeyring::new(scheme).unwrap()
}

#[test]
fn ecdh_messages_from_phiveil_decrypt_with_the_python_raw_ecdh_keyring() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for curve in [Curve::P256, Curve::P384] {
        let alice = EcPrivateKey::generate(curve, &mut rng);
        let bob = EcPrivateKey::generate(curve, &mut rng);
        let ephemeral = ecdh(KeyAgreement::EphemeralToStatic {
            recipient: bob.public_key(),
        });
        let stat = ecdh(KeyAgreement::StaticToStatic {
            sender: alice.clone(),
            recipient: bob.public_key(),
        });
        let bob_discovers = ecdh_spec("discovery", curve, Some(&bob), None);
        let bob_static = ecdh_spec("static", curve, Some(&bob), Some(&alice.public_key()));
        let alice_static = ecdh_spec("static", curve, Some(&alice), Some(&bob.public_key()));
        for suite in [COMMIT, SIGNED] {
            to_peer(Peer::Python, &[128], &ephemeral, &bob_discovers, suite);
            to_peer(Peer::Python, &[128], &stat, &bob_discovers, suite);
            to_peer(Peer::Python, &[128], &stat, &bob_static, suite);
            to_peer(Peer::Python, &[128], &stat, &alice_static, suite);
        }
    }
}

#[test]
fn python_raw_ecdh_keyring_messages_decrypt_with_phiveil() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    for curve in [Curve::P256, Curve::P384] {
        let alice = EcPrivateKey::generate(curve, &mut rng);
        let bob = EcPrivateKey::generate(curve, &mut rng);
        let bob_discovers = ecdh(KeyAgreement::Discovery {
            recipient: bob.clone(),
        });
        let bob_static = ecdh(KeyAgreement::StaticToStatic {
            sender: bob.clone(),
            recipient: alice.public_key(),
        });
        let alice_static = ecdh(KeyAgreement::StaticToStatic {
            sender: alice.clone(),
            recipient: bob.public_key(),
        });
        let ephemeral = ecdh_spec("ephemeral", curve, None, Some(&bob.public_key()));
        let stat = ecdh_spec("static", curve, Some(&alice), Some(&bob.public_key()));
        for suite in [COMMIT, SIGNED] {
            from_peer(Peer::Python, &[0, 128], &ephemeral, &bob_discovers, suite);
            from_peer(Peer::Python, &[128], &stat, &bob_discovers, suite);
            from_peer(Peer::Python, &[128], &stat, &bob_static, suite);
            from_peer(Peer::Python, &[128], &stat, &alice_static, suite);
        }
    }
}
