//! Incremental encryption and decryption of ESDK messages with bounded memory, and
//! random access to frame *i* of a message with a fixed frame length.
//!
//! Framed body layout (ESDK `data-format/message-body.md`):
//! ```text
//! regular frame: seq(4) | IV(12) | ciphertext(frame length) | tag(16)
//! final frame:   0xFFFFFFFF(4) | seq(4) | IV(12) | len(4) | ciphertext(len) | tag(16)
//! non-framed:    IV(12) | len(8) | ciphertext(len) | tag(16)
//! ```
//! The decryptor releases a frame's plaintext only after its tag verified; the
//! header tag and the key commitment are verified before any frame is read.

use std::sync::Arc;

use zeroize::{Zeroize, Zeroizing};

use super::cmm::{DecryptionRequest, EncryptionRequest, MaterialsProvider};
use super::context::{self, EncryptionContext};
use super::header::{ContentType, Header, Limits};
use super::signature::{Signer, Verifier, PUBLIC_KEY_CONTEXT_KEY};
use super::suite::{
    body_aad, frame_iv, AlgorithmSuite, BodyAadContent, MessageKeys, IV_LEN, MESSAGE_ID_LEN,
    TAG_LEN,
};
use super::wire::Reader;
use crate::error::{Error, Result};

/// Default frame length (bytes of plaintext per frame).
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;
/// Marker that opens the final frame.
const SEQUENCE_NUMBER_END: u32 = 0xFFFF_FFFF;
/// Bytes a regular frame adds to its plaintext.
pub const REGULAR_FRAME_OVERHEAD: usize = 4 + IV_LEN + TAG_LEN;
/// Bytes a final frame adds to its plaintext.
pub const FINAL_FRAME_OVERHEAD: usize = 4 + 4 + IV_LEN + 4 + TAG_LEN;

/// Options for encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptOptions {
    /// Plaintext bytes per frame (1 ..= 2^32 - 1; default 4096).
    pub frame_length: u32,
    /// The algorithm suite (only the committing suite 0x0478 exists here).
    pub suite: AlgorithmSuite,
    /// Upper bound on the plaintext length for streaming encryption; exceeding it
    /// fails. Lets a caching materials provider account the bytes.
    pub max_plaintext_length: Option<u64>,
    /// Most encrypted data keys a message may carry (the ESDK client's limit).
    pub max_encrypted_data_keys: usize,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            frame_length: DEFAULT_FRAME_LENGTH,
            suite: AlgorithmSuite::default(),
            max_plaintext_length: None,
            max_encrypted_data_keys: Limits::default().max_encrypted_data_keys,
        }
    }
}

/// Incremental encryptor: push plaintext, collect ciphertext; memory held is at most
/// one frame of plaintext.
pub struct StreamEncryptor {
    keys: MessageKeys,
    message_id: [u8; MESSAGE_ID_LEN],
    frame_length: u32,
    next_seq: u32,
    pending: Zeroizing<Vec<u8>>,
    header: Option<Vec<u8>>,
    processed: u64,
    bound: Option<u64>,
    aad: Vec<u8>,
    signer: Option<Box<Signer>>,
}

impl core::fmt::Debug for StreamEncryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamEncryptor")
            .field("frame_length", &self.frame_length)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl StreamEncryptor {
    /// Starts a message: asks `provider` for materials, builds and authenticates the
    /// header. The header is emitted with the first output.
    pub fn new(
        provider: &dyn MaterialsProvider,
        context: &EncryptionContext,
        options: &EncryptOptions,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<Self> {
        if options.frame_length == 0 {
            return Err(Error::InvalidConfig("frame length must be at least 1"));
        }
        context::check_caller_context(context)?;
        // Signing suites: a fresh key pair per message, its public key bound in the
        // context (the default CMM's behaviour).
        let mut signed_ctx;
        let mut context = context;
        let signer = if options.suite.is_signing() {
            let (signer, public) = Signer::generate(rng);
            signed_ctx = context.clone();
            signed_ctx.insert(PUBLIC_KEY_CONTEXT_KEY.to_owned(), public);
            context = &signed_ctx;
            Some(Box::new(signer))
        } else {
            None
        };
        let req = EncryptionRequest {
            context,
            suite: options.suite,
            max_plaintext_length: options.max_plaintext_length,
        };
        let materials = provider.encryption_materials(&req, rng)?;
        if materials.suite != options.suite {
            return Err(Error::InvalidConfig(
                "materials provider changed the algorithm suite",
            ));
        }
        if materials.encrypted_data_keys.len() > options.max_encrypted_data_keys {
            return Err(Error::LimitExceeded {
                what: "encrypted data keys",
                limit: options.max_encrypted_data_keys as u64,
            });
        }
        let data_key = materials
            .data_key
            .as_ref()
            .ok_or(Error::InvalidConfig("materials without a data key"))?;
        let mut message_id = [0u8; MESSAGE_ID_LEN];
        rng.try_fill_bytes(&mut message_id)
            .map_err(|_| Error::Rng)?;
        let keys = MessageKeys::derive(materials.suite, data_key, &message_id)?;
        let mut header = Header::serialize_body(
            materials.suite,
            &message_id,
            &materials.context,
            &materials.encrypted_data_keys,
            options.frame_length,
            &keys.commitment,
        )?;
        // Header tag: IV 0, empty plaintext, AAD = header body (no
        // authenticate-only context: every entry is stored in the header).
        let tag = keys.seal(&[0u8; IV_LEN], &header, &mut [])?;
        header.extend_from_slice(&tag);
        Ok(Self {
            keys,
            message_id,
            frame_length: options.frame_length,
            next_seq: 1,
            pending: Zeroizing::new(Vec::new()),
            header: Some(header),
            processed: 0,
            bound: options.max_plaintext_length,
            aad: Vec::with_capacity(MESSAGE_ID_LEN + 48),
            signer,
        })
    }

    /// The message keys, message ID and frame length (for the wasm WebCrypto path).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn parts(&self) -> (&MessageKeys, &[u8; MESSAGE_ID_LEN], u32) {
        (&self.keys, &self.message_id, self.frame_length)
    }

    /// Takes the serialized header and the signer out: the caller writes and signs
    /// the message itself (the header is then not emitted again).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn take_header(&mut self) -> Option<(Vec<u8>, Option<Box<Signer>>)> {
        self.header.take().map(|h| (h, self.signer.take()))
    }

    /// The serialized header, until it has been emitted.
    pub fn header(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }

    fn flen(&self) -> usize {
        self.frame_length as usize
    }

    fn emit_header(&mut self, out: &mut Vec<u8>) {
        if let Some(h) = self.header.take() {
            if let Some(s) = self.signer.as_mut() {
                s.update(&h);
            }
            out.extend_from_slice(&h);
        }
    }

    fn seal_frame(&mut self, plaintext: &[u8], is_final: bool, out: &mut Vec<u8>) -> Result<()> {
        let seq = self.next_seq;
        if !is_final && seq == SEQUENCE_NUMBER_END {
            return Err(Error::LimitExceeded {
                what: "frames in one message",
                limit: u64::from(SEQUENCE_NUMBER_END),
            });
        }
        let iv = frame_iv(seq);
        let len = plaintext.len() as u64;
        let frame_start = out.len();
        let content = if is_final {
            out.extend_from_slice(&SEQUENCE_NUMBER_END.to_be_bytes());
            BodyAadContent::FinalFrame
        } else {
            BodyAadContent::Frame
        };
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&iv);
        if is_final {
            let len32 = u32::try_from(plaintext.len())
                .map_err(|_| Error::InvalidState("final frame too long"))?;
            out.extend_from_slice(&len32.to_be_bytes());
        }
        body_aad(&mut self.aad, &self.message_id, content, seq, len);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let buf = out
            .get_mut(start..)
            .ok_or(Error::InvalidState("output buffer"))?;
        let tag = self.keys.seal(&iv, &self.aad, buf)?;
        out.extend_from_slice(&tag);
        if let Some(s) = self.signer.as_mut() {
            s.update(out.get(frame_start..).unwrap_or_default());
        }
        self.next_seq = seq.wrapping_add(1);
        Ok(())
    }

    fn account(&mut self, n: usize) -> Result<()> {
        self.processed = self.processed.saturating_add(n as u64);
        if let Some(b) = self.bound {
            if self.processed > b {
                return Err(Error::LimitExceeded {
                    what: "plaintext length bound",
                    limit: b,
                });
            }
        }
        Ok(())
    }

    /// Encrypts as many whole frames as `data` (with what was buffered) allows and
    /// appends them (and the header, the first time) to `out`.
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.account(data.len())?;
        self.emit_header(out);
        let flen = self.flen();
        if !self.pending.is_empty() {
            let need = flen.saturating_sub(self.pending.len());
            let (head, rest) = data.split_at(need.min(data.len()));
            self.pending.extend_from_slice(head);
            data = rest;
            if self.pending.len() < flen {
                return Ok(());
            }
            let frame = core::mem::take(&mut *self.pending);
            let frame = Zeroizing::new(frame);
            self.seal_frame(&frame, false, out)?;
        }
        while data.len() >= flen {
            let (frame, rest) = data.split_at(flen);
            self.seal_frame(frame, false, out)?;
            data = rest;
        }
        self.pending.extend_from_slice(data);
        Ok(())
    }

    /// Writes the final frame (possibly empty) — and for signing suites the
    /// signature footer — and ends the message.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<()> {
        self.emit_header(out);
        let last = core::mem::take(&mut *self.pending);
        let last = Zeroizing::new(last);
        self.seal_frame(&last, true, out)?;
        if let Some(s) = self.signer.take() {
            out.extend_from_slice(&s.footer()?);
        }
        Ok(())
    }
}

/// What a successful decryption tells about the message (authenticated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// The encryption context bound in the header.
    pub context: EncryptionContext,
    /// The message ID.
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// The algorithm suite.
    pub suite: AlgorithmSuite,
    /// The frame length (0 for non-framed).
    pub frame_length: u32,
    /// Length of the serialized header.
    pub header_len: usize,
}

enum State {
    Header,
    Body {
        keys: Box<MessageKeys>,
        info: MessageInfo,
        content_type: ContentType,
        next_seq: u32,
        verifier: Option<Box<Verifier>>,
    },
    Footer {
        info: MessageInfo,
        verifier: Box<Verifier>,
    },
    Done(MessageInfo),
}

/// Incremental decryptor: push ciphertext, collect verified plaintext.
///
/// Memory held is at most one frame plus its overhead (or the header while it is
/// incomplete, bounded by [`Limits::max_header_len`]). Plaintext of a frame is
/// released only after that frame's tag verified; [`StreamDecryptor::finish`] fails
/// unless the final frame was seen and nothing followed it.
pub struct StreamDecryptor<'p> {
    provider: ProviderRef<'p>,
    expected: EncryptionContext,
    limits: Limits,
    state: State,
    pending: Vec<u8>,
    aad: Vec<u8>,
}

impl core::fmt::Debug for StreamDecryptor<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamDecryptor")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A materials provider held by reference or shared ownership.
enum ProviderRef<'p> {
    Borrowed(&'p dyn MaterialsProvider),
    Shared(Arc<dyn MaterialsProvider>),
}

impl ProviderRef<'_> {
    fn get(&self) -> &dyn MaterialsProvider {
        match self {
            ProviderRef::Borrowed(p) => *p,
            ProviderRef::Shared(p) => p.as_ref(),
        }
    }
}

impl StreamDecryptor<'static> {
    /// Like [`StreamDecryptor::new`] but owning a shared provider, so the decryptor
    /// can outlive the caller's borrow (for example inside a JavaScript object).
    pub fn new_shared(
        provider: Arc<dyn MaterialsProvider>,
        expected: EncryptionContext,
        limits: Limits,
    ) -> Self {
        Self::with_provider(ProviderRef::Shared(provider), expected, limits)
    }
}

impl<'p> StreamDecryptor<'p> {
    /// Creates a decryptor. `expected` lists the encryption-context entries the
    /// caller requires; each must be present in the header with the same value.
    pub fn new(
        provider: &'p dyn MaterialsProvider,
        expected: EncryptionContext,
        limits: Limits,
    ) -> Self {
        Self::with_provider(ProviderRef::Borrowed(provider), expected, limits)
    }

    fn with_provider(
        provider: ProviderRef<'p>,
        expected: EncryptionContext,
        limits: Limits,
    ) -> Self {
        Self {
            provider,
            expected,
            limits,
            state: State::Header,
            pending: Vec::new(),
            aad: Vec::with_capacity(MESSAGE_ID_LEN + 48),
        }
    }

    /// The authenticated header information, once the header has been verified.
    pub fn info(&self) -> Option<&MessageInfo> {
        match &self.state {
            State::Header => None,
            State::Body { info, .. } | State::Footer { info, .. } | State::Done(info) => Some(info),
        }
    }

    /// Consumes `data`, appending verified plaintext to `out`. On error nothing from
    /// the failing frame is appended, and the decryptor must be dropped.
    pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.pending.is_empty() {
            let used = self.process(data, out, false)?;
            let rest = data
                .get(used..)
                .ok_or(Error::InvalidState("consumed past input"))?;
            self.pending.extend_from_slice(rest);
        } else {
            self.pending.extend_from_slice(data);
            let pending = core::mem::take(&mut self.pending);
            let used = self.process(&pending, out, false);
            let mut pending = pending;
            match used {
                Ok(used) => {
                    pending.drain(..used.min(pending.len()));
                    self.pending = pending;
                }
                Err(e) => {
                    pending.zeroize();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Ends the message: fails if it was truncated or followed by extra bytes.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<MessageInfo> {
        let pending = core::mem::take(&mut self.pending);
        let used = self.process(&pending, out, true)?;
        if used != pending.len() {
            return Err(Error::Truncated);
        }
        match self.state {
            State::Done(info) => Ok(info),
            _ => Err(Error::Truncated),
        }
    }

    /// Processes as many complete units (header, frames) of `input` as possible;
    /// returns how many bytes were consumed.
    pub(crate) fn process(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        at_end: bool,
    ) -> Result<usize> {
        let mut used = 0usize;
        loop {
            let rest = input.get(used..).unwrap_or_default();
            let step = match &mut self.state {
                State::Header => self.read_header(rest),
                State::Body { .. } => self.read_body_unit(rest, out),
                State::Footer { .. } => self.read_footer(rest),
                State::Done(_) => {
                    if rest.is_empty() {
                        return Ok(used);
                    }
                    return Err(Error::TrailingBytes);
                }
            };
            match step {
                Ok(n) => used = used.saturating_add(n),
                Err(Error::Truncated) if !at_end => return Ok(used),
                Err(e) => return Err(e),
            }
        }
    }

    fn read_header(&mut self, input: &[u8]) -> Result<usize> {
        let (header, len) = Header::parse(input, &self.limits)?;
        let req = DecryptionRequest {
            suite: header.suite,
            context: &header.context,
            encrypted_data_keys: &header.encrypted_data_keys,
        };
        let materials = self.provider.get().decryption_materials(&req)?;
        let data_key = materials.data_key.as_ref().ok_or(Error::NoMatchingKey)?;
        let keys = MessageKeys::derive(header.suite, data_key, &header.message_id)?;
        if !keys.commitment_matches(&header.commitment) {
            return Err(Error::DecryptFailed);
        }
        keys.open(&[0u8; IV_LEN], &header.body, &mut [], &header.auth_tag)?;
        // Only now is the header authentic: check what the caller expects of it.
        context::check_expected(&header.context, &self.expected)?;
        let verifier = if header.suite.is_signing() {
            let mut v = Verifier::from_context(&header.context)?;
            v.update(input.get(..len).ok_or(Error::Truncated)?);
            Some(Box::new(v))
        } else if header.context.contains_key(PUBLIC_KEY_CONTEXT_KEY) {
            return Err(Error::Malformed(
                "aws-crypto-public-key in a message without signature",
            ));
        } else {
            None
        };
        let info = MessageInfo {
            context: header.context,
            message_id: header.message_id,
            suite: header.suite,
            frame_length: header.frame_length,
            header_len: len,
        };
        self.state = State::Body {
            keys: Box::new(keys),
            info,
            content_type: header.content_type,
            next_seq: 1,
            verifier,
        };
        Ok(len)
    }

    fn read_footer(&mut self, input: &[u8]) -> Result<usize> {
        // Wait until the whole footer is there (Truncated asks for more bytes).
        let mut r = Reader::new(input);
        let _signature = r.u16_prefixed()?;
        let State::Footer { info, verifier } = core::mem::replace(&mut self.state, State::Header)
        else {
            return Err(Error::InvalidState("not at the footer"));
        };
        // A failure is final: the decryptor is not used again after an error.
        let n = verifier.verify_footer(input)?;
        self.state = State::Done(info);
        Ok(n)
    }

    fn read_body_unit(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        let State::Body {
            keys,
            info,
            content_type,
            next_seq,
            verifier,
        } = &mut self.state
        else {
            return Err(Error::InvalidState("not in body"));
        };
        let (used, is_final) = match content_type {
            ContentType::Framed => {
                let frame = parse_frame(input, info.frame_length, &self.limits)?;
                if frame.seq != *next_seq {
                    return Err(Error::BadSequenceNumber {
                        expected: *next_seq,
                        found: frame.seq,
                    });
                }
                open_frame(keys, &info.message_id, &frame, &mut self.aad, out)?;
                *next_seq = next_seq
                    .checked_add(1)
                    .ok_or(Error::Malformed("sequence number overflow"))?;
                (frame.total_len, frame.is_final)
            }
            ContentType::NonFramed => {
                let mut r = Reader::new(input);
                let iv: [u8; IV_LEN] = r.array()?;
                let len = r.u64()?;
                if len > self.limits.max_non_framed_len {
                    return Err(Error::LimitExceeded {
                        what: "non-framed body length",
                        limit: self.limits.max_non_framed_len,
                    });
                }
                let ct_start = r.position();
                let ct = r.take(usize::try_from(len).map_err(|_| Error::Truncated)?)?;
                let tag: [u8; TAG_LEN] = r.array()?;
                let sealed = input.get(ct_start..r.position()).ok_or(Error::Truncated)?;
                if iv != frame_iv(1) {
                    return Err(Error::Malformed(
                        "non-framed IV is not the sequence number 1",
                    ));
                }
                let frame = Frame {
                    seq: 1,
                    iv,
                    ciphertext: ct,
                    tag,
                    sealed,
                    is_final: true,
                    total_len: r.position(),
                    content: BodyAadContent::SingleBlock,
                };
                open_frame(keys, &info.message_id, &frame, &mut self.aad, out)?;
                (frame.total_len, true)
            }
        };
        if let Some(v) = verifier.as_mut() {
            v.update(input.get(..used).ok_or(Error::Truncated)?);
        }
        if is_final {
            let info = info.clone();
            self.state = match verifier.take() {
                Some(verifier) => State::Footer { info, verifier },
                None => State::Done(info),
            };
        }
        Ok(used)
    }
}

/// A frame read from untrusted bytes (not yet authenticated).
pub(crate) struct Frame<'a> {
    pub(crate) seq: u32,
    pub(crate) iv: [u8; IV_LEN],
    pub(crate) ciphertext: &'a [u8],
    pub(crate) tag: [u8; TAG_LEN],
    /// Ciphertext followed by the tag, as laid out in the message.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) sealed: &'a [u8],
    pub(crate) is_final: bool,
    pub(crate) total_len: usize,
    pub(crate) content: BodyAadContent,
}

impl Frame<'_> {
    /// The body AAD of this frame.
    pub(crate) fn aad(&self, message_id: &[u8; MESSAGE_ID_LEN], out: &mut Vec<u8>) {
        body_aad(
            out,
            message_id,
            self.content,
            self.seq,
            self.ciphertext.len() as u64,
        );
    }
}

/// Splits a whole message body into frames, checking sequence numbers, IVs,
/// lengths and that nothing follows the final frame (or the signature footer, when
/// `verifier` is given: it is fed the body and checks the footer) — without
/// decrypting. Used by the wasm build to hand frames to WebCrypto.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn split_body<'a>(
    body: &'a [u8],
    content_type: ContentType,
    frame_length: u32,
    limits: &Limits,
    verifier: Option<Verifier>,
) -> Result<Vec<Frame<'a>>> {
    let mut frames = Vec::new();
    let mut pos = 0usize;
    match content_type {
        ContentType::NonFramed => {
            let mut r = Reader::new(body);
            let iv: [u8; IV_LEN] = r.array()?;
            let len = r.u64()?;
            if len > limits.max_non_framed_len {
                return Err(Error::LimitExceeded {
                    what: "non-framed body length",
                    limit: limits.max_non_framed_len,
                });
            }
            let ct_start = r.position();
            let ciphertext = r.take(usize::try_from(len).map_err(|_| Error::Truncated)?)?;
            let tag: [u8; TAG_LEN] = r.array()?;
            let sealed = body.get(ct_start..r.position()).ok_or(Error::Truncated)?;
            if iv != frame_iv(1) {
                return Err(Error::Malformed(
                    "non-framed IV is not the sequence number 1",
                ));
            }
            frames.push(Frame {
                seq: 1,
                iv,
                ciphertext,
                tag,
                sealed,
                is_final: true,
                total_len: r.position(),
                content: BodyAadContent::SingleBlock,
            });
            pos = r.position();
        }
        ContentType::Framed => {
            let mut expected = 1u32;
            loop {
                let rest = body.get(pos..).ok_or(Error::Truncated)?;
                let frame = parse_frame(rest, frame_length, limits)?;
                if frame.seq != expected {
                    return Err(Error::BadSequenceNumber {
                        expected,
                        found: frame.seq,
                    });
                }
                expected = expected
                    .checked_add(1)
                    .ok_or(Error::Malformed("sequence number overflow"))?;
                pos = pos.saturating_add(frame.total_len);
                let is_final = frame.is_final;
                frames.push(frame);
                if is_final {
                    break;
                }
            }
        }
    }
    if let Some(mut v) = verifier {
        v.update(body.get(..pos).ok_or(Error::Truncated)?);
        let footer = v.verify_footer(body.get(pos..).ok_or(Error::Truncated)?)?;
        pos = pos.saturating_add(footer);
    }
    if pos != body.len() {
        return Err(Error::TrailingBytes);
    }
    Ok(frames)
}

fn parse_frame<'a>(input: &'a [u8], frame_length: u32, limits: &Limits) -> Result<Frame<'a>> {
    let mut r = Reader::new(input);
    let first = r.u32()?;
    let is_final = first == SEQUENCE_NUMBER_END;
    let seq = if is_final { r.u32()? } else { first };
    let iv: [u8; IV_LEN] = r.array()?;
    let len = if is_final {
        let len = r.u32()?;
        if len > frame_length {
            return Err(Error::Malformed("final frame longer than the frame length"));
        }
        len
    } else {
        frame_length
    };
    if len > limits.max_frame_len {
        return Err(Error::LimitExceeded {
            what: "frame length",
            limit: u64::from(limits.max_frame_len),
        });
    }
    let ct_start = r.position();
    let ciphertext = r.take(len as usize)?;
    let tag: [u8; TAG_LEN] = r.array()?;
    let sealed = input.get(ct_start..r.position()).ok_or(Error::Truncated)?;
    if iv != frame_iv(seq) {
        return Err(Error::Malformed(
            "frame IV does not match its sequence number",
        ));
    }
    Ok(Frame {
        seq,
        iv,
        ciphertext,
        tag,
        sealed,
        is_final,
        total_len: r.position(),
        content: if is_final {
            BodyAadContent::FinalFrame
        } else {
            BodyAadContent::Frame
        },
    })
}

/// Decrypts a frame into `out`; on failure `out` is restored (and the bytes
/// written into it zeroized), so no unauthenticated plaintext is ever released.
fn open_frame(
    keys: &MessageKeys,
    message_id: &[u8; MESSAGE_ID_LEN],
    frame: &Frame<'_>,
    aad: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<()> {
    frame.aad(message_id, aad);
    let start = out.len();
    out.extend_from_slice(frame.ciphertext);
    let buf = out
        .get_mut(start..)
        .ok_or(Error::InvalidState("output buffer"))?;
    match keys.open(&frame.iv, aad, buf, &frame.tag) {
        Ok(()) => Ok(()),
        Err(e) => {
            buf.zeroize();
            out.truncate(start);
            Err(e)
        }
    }
}

/// Reads and authenticates the header at the start of `bytes`: returns the message
/// keys, the header information and the body's content type.
/// For signing suites the verifier comes back already fed with the header.
pub(crate) fn open_header(
    provider: &dyn MaterialsProvider,
    bytes: &[u8],
    expected: EncryptionContext,
    limits: Limits,
) -> Result<(MessageKeys, MessageInfo, ContentType, Option<Verifier>)> {
    let mut dec = StreamDecryptor::new(provider, expected, limits);
    dec.read_header(bytes)?;
    match dec.state {
        State::Body {
            keys,
            info,
            content_type,
            verifier,
            ..
        } => Ok((*keys, info, content_type, verifier.map(|v| *v))),
        _ => Err(Error::InvalidState("header not read")),
    }
}

/// Random access to the frames of a framed message with a fixed frame length:
/// frame *i* is decrypted from its own bytes, without reading frames before it.
pub struct FrameReader {
    keys: MessageKeys,
    info: MessageInfo,
    limits: Limits,
}

impl core::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameReader")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl FrameReader {
    /// Reads and authenticates the header at the start of `header_bytes` (which may
    /// contain more of the message). Fails for non-framed messages.
    pub fn open(
        provider: &dyn MaterialsProvider,
        header_bytes: &[u8],
        expected: EncryptionContext,
        limits: Limits,
    ) -> Result<Self> {
        match open_header(provider, header_bytes, expected, limits)? {
            (_, info, _, _) if info.suite.is_signing() => Err(Error::InvalidConfig(
                "random access would release frames of a signed message before its signature is verified",
            )),
            (keys, info, ContentType::Framed, _) => Ok(Self { keys, info, limits }),
            (_, _, ContentType::NonFramed, _) => Err(Error::InvalidConfig("random access needs a framed message")),
        }
    }

    /// The authenticated header information.
    pub fn info(&self) -> &MessageInfo {
        &self.info
    }

    /// Byte offset of frame `seq` (1-based) from the start of the message.
    pub fn frame_offset(&self, seq: u32) -> Result<u64> {
        if seq == 0 || seq == SEQUENCE_NUMBER_END {
            return Err(Error::InvalidConfig("frame sequence numbers start at 1"));
        }
        let frame_size =
            u64::from(self.info.frame_length).saturating_add(REGULAR_FRAME_OVERHEAD as u64);
        Ok((self.info.header_len as u64)
            .saturating_add(u64::from(seq.saturating_sub(1)).saturating_mul(frame_size)))
    }

    /// Bytes of a regular frame on the wire.
    pub fn regular_frame_size(&self) -> usize {
        (self.info.frame_length as usize).saturating_add(REGULAR_FRAME_OVERHEAD)
    }

    /// Decrypts frame `seq` from `bytes` (which start at [`Self::frame_offset`]).
    /// Returns the plaintext and whether it was the final frame. A frame with another
    /// sequence number is refused.
    pub fn decrypt_frame(&self, seq: u32, bytes: &[u8]) -> Result<(Vec<u8>, bool)> {
        let frame = parse_frame(bytes, self.info.frame_length, &self.limits)?;
        if frame.seq != seq {
            return Err(Error::BadSequenceNumber {
                expected: seq,
                found: frame.seq,
            });
        }
        let mut out = Vec::with_capacity(frame.ciphertext.len());
        let mut aad = Vec::with_capacity(MESSAGE_ID_LEN + 48);
        open_frame(
            &self.keys,
            &self.info.message_id,
            &frame,
            &mut aad,
            &mut out,
        )?;
        Ok((out, frame.is_final))
    }
}
