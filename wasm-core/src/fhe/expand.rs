//! A proven list's expansion for the blocks path, its bootstraps batched.
//!
//! tfhe expands a submission's list (`verify_and_expand`) one packed ciphertext at a
//! time. Each LWE ciphertext of the compact list is keyswitched by the casting key from
//! the compact public key's LWE key to the computation key's small key, then
//! bootstrapped once per block it holds, through a table that unpacks it (the message
//! half or the carry half) and sanitizes it (a boolean becomes 0 or 1). For the 8-field
//! study those are 35 bootstraps per submission, half of the relay's work.
//!
//! [`expand`] takes the same steps, on the same values, from the public parts of
//! tfhe's types: the list's LWE ciphertexts (`par_expand_lwe_compact_ciphertext_list`,
//! lists merged as tfhe merges them), the casting keyswitch, and per block the table
//! tfhe's `IntegerUnpackingToShortintCastingModeHelper` builds for its kind and half.
//! The bootstraps of a submission then go to `phiveil_pbs::bootstrap_small` together,
//! which bootstraps them in groups (the modulus switch and blind rotation of tfhe's
//! `apply_programmable_bootstrap`) and sets the table's degree and a nominal noise
//! level, as tfhe's cast does. `expanded_blocks_equal_tfhes` (in this crate's tests)
//! checks every block against tfhe's own expansion: value, degree, noise level,
//! moduli, for packed and unpacked lists and for a boolean entry holding 2 or 3.
//!
//! Anything but the shape this relay's parameters produce (a list that needs casting,
//! a casting key onto the small key with no shift, a classic keyswitch-then-bootstrap
//! computation key) is left to tfhe: [`expand`] returns `None` and the caller takes
//! tfhe's expander.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

use tfhe::core_crypto::prelude::{LweCiphertextOwned, LweKeyswitchKeyOwned};
use tfhe::integer::ciphertext::DataKind;
use tfhe::shortint::parameters::{CompactCiphertextListExpansionKind, EncryptionKeyChoice};
use tfhe::shortint::server_key::LookupTableOwned;
use tfhe::shortint::ServerKey;
use tfhe::ProvenCompactCiphertextList;

use super::{Block, ProvenEntries};
use crate::{Error, Result};

/// The casting keyswitch key of a study's server key: from the compact public key's
/// LWE key to the computation key's small key.
pub(crate) struct CastKey {
    ksk: LweKeyswitchKeyOwned<u64>,
}

thread_local! {
    static CAST: RefCell<Option<Arc<CastKey>>> = const { RefCell::new(None) };
}

/// The casting key of a server key's raw parts, where it is the shape [`expand`]
/// handles (onto the small key, no shift).
pub(crate) fn cast_key_of(
    material: Option<tfhe::integer::key_switching_key::KeySwitchingKeyMaterial>,
) -> Option<Arc<CastKey>> {
    let (ksk, rshift, destination, _) = material?.into_raw_parts().into_raw_parts();
    (rshift == 0 && destination == EncryptionKeyChoice::Small).then(|| Arc::new(CastKey { ksk }))
}

/// Sets this thread's casting key.
pub(crate) fn set(key: Option<Arc<CastKey>>) {
    CAST.with(|k| *k.borrow_mut() = key);
}

/// This thread's casting key, if it has one of the shape [`expand`] handles.
pub(crate) fn key() -> Option<Arc<CastKey>> {
    CAST.with(|k| k.borrow().clone())
}

/// A submission's entries as blocks of the computation key, with their kinds.
pub(crate) struct Entries {
    kinds: Vec<DataKind>,
    blocks: Vec<Block>,
}

impl Entries {
    /// The blocks of entry `i` and its kind (tfhe's `blocks_of`).
    fn range(&self, i: usize) -> Option<(Range<usize>, DataKind)> {
        let msg = self.blocks.first()?.message_modulus;
        let kind = *self.kinds.get(i)?;
        let start: usize = self.kinds.get(..i)?.iter().map(|k| k.num_blocks(msg)).sum();
        let end = start.checked_add(kind.num_blocks(msg))?;
        (end <= self.blocks.len()).then_some((start..end, kind))
    }
}

impl ProvenEntries for Entries {
    fn value_blocks(&self, i: usize, bits: u32) -> Result<Option<Vec<Block>>> {
        if !(2..=16).contains(&bits) || bits % 2 != 0 {
            return Ok(None);
        }
        let Some((range, kind)) = self.range(i) else {
            return Ok(None);
        };
        match kind {
            DataKind::Unsigned(n) if usize::try_from(bits / 2).is_ok_and(|b| b == n.get()) => {
                Ok(self.blocks.get(range).map(<[Block]>::to_vec))
            }
            _ => Err(Error::Fhe("a submission entry has the wrong type".into())),
        }
    }

    fn bit(&self, i: usize) -> Result<Option<Block>> {
        let Some((range, kind)) = self.range(i) else {
            return Ok(None);
        };
        match kind {
            DataKind::Boolean => Ok(self.blocks.get(range.start).cloned()),
            _ => Err(Error::Fhe("a submission entry has the wrong type".into())),
        }
    }
}

/// Which table a block goes through (tfhe's unpacking and sanitizing functions).
#[derive(Clone, Copy)]
enum Half {
    Message,
    Carry,
    MessageBool,
    CarryBool,
}

/// Expands `list` with the casting key `cast` into blocks of the computation key `sk`,
/// as tfhe's expansion does (see the module documentation); `Ok(None)` where the list,
/// the casting key or `sk` is of a shape left to tfhe. The proof is not checked here.
pub(crate) fn expand(
    list: &ProvenCompactCiphertextList,
    cast: &CastKey,
    sk: &ServerKey,
) -> Result<Option<Entries>> {
    let malformed = |_| Error::Fhe("submission is not a well-formed proven list".into());
    // The high-level list serializes as its integer list followed by its tag; the
    // integer list's own parts are public.
    let bytes = bincode::serialize(list).map_err(malformed)?;
    let inner: tfhe::integer::ciphertext::ProvenCompactCiphertextList =
        bincode::deserialize(&bytes).map_err(malformed)?;
    let (proven, kinds) = inner.into_raw_parts();
    // tfhe's `expand_raw`: each non-empty list expanded, all of one shape, merged.
    let mut compacts = Vec::new();
    let mut shape = None;
    for (compact, _proof) in proven.into_raw_parts() {
        let (compact, degree, msg, carry, kind) = compact.into_raw_parts();
        if compact.lwe_ciphertext_count().0 == 0 {
            continue;
        }
        if kind != CompactCiphertextListExpansionKind::RequiresCasting {
            return Ok(None);
        }
        let this = (
            compact.lwe_size(),
            compact.ciphertext_modulus(),
            degree,
            msg,
            carry,
        );
        match &shape {
            None => shape = Some(this),
            Some(s) if *s != this => {
                return Err(Error::Fhe(
                    "the lists of a submission do not have the same parameters".into(),
                ))
            }
            Some(_) => {}
        }
        compacts.push(compact);
    }
    let Some((_, _, degree, msg, _)) = shape else {
        return Err(Error::Fhe("a submission with no entries".into()));
    };
    // tfhe's functions: per block, by its kind and (packed) its half of the ciphertext.
    let packed = degree.get() > msg.corresponding_max_degree().get();
    let mut halves: Vec<(usize, Half)> = Vec::new();
    for kind in &kinds {
        let boolean = match kind {
            DataKind::Boolean => true,
            DataKind::Unsigned(_) => false,
            // Not in any study's list (`parse_submission` checks every entry's type).
            DataKind::Signed(_) | DataKind::String { .. } => return Ok(None),
        };
        for _ in 0..kind.num_blocks(msg) {
            let j = halves.len();
            let (at, carry_half) = if packed {
                (j / 2, j % 2 == 1)
            } else {
                (j, false)
            };
            halves.push((
                at,
                match (boolean, carry_half) {
                    (false, false) => Half::Message,
                    (false, true) => Half::Carry,
                    (true, false) => Half::MessageBool,
                    (true, true) => Half::CarryBool,
                },
            ));
        }
    }
    let expected = if packed {
        halves.len().div_ceil(2)
    } else {
        halves.len()
    };
    let count: usize = compacts.iter().map(|c| c.lwe_ciphertext_count().0).sum();
    if expected != count {
        return Err(Error::Fhe(format!(
            "a submission's list holds {count} ciphertexts for {expected}"
        )));
    }
    // The list's LWE ciphertexts, keyswitched onto the small key by the casting key.
    let compacts: Vec<_> = compacts.iter().collect();
    let small = phiveil_pbs::expand_and_keyswitch(&compacts, &cast.ksk);
    // The tables, as the helper defines them with the computation key's moduli (never
    // zero: `checked_*` only keeps the arithmetic lints quiet).
    let (m, c) = (sk.message_modulus.0, sk.carry_modulus.0);
    let message = |x: u64| x.checked_rem(m).unwrap_or(0);
    let carry = |x: u64| x.checked_div(c).and_then(|q| q.checked_rem(m)).unwrap_or(0);
    let message_table = sk.generate_lookup_table(message);
    let carry_table = sk.generate_lookup_table(carry);
    let message_bool = sk.generate_lookup_table(|x| u64::from(message(x) != 0));
    let carry_bool = sk.generate_lookup_table(|x| u64::from(carry(x) != 0));
    let mut jobs: Vec<(&LweCiphertextOwned<u64>, &LookupTableOwned)> =
        Vec::with_capacity(halves.len());
    for (at, half) in halves {
        let lwe = small
            .get(at)
            .ok_or_else(|| Error::Fhe("a submission's list is too short".into()))?;
        jobs.push((
            lwe,
            match half {
                Half::Message => &message_table,
                Half::Carry => &carry_table,
                Half::MessageBool => &message_bool,
                Half::CarryBool => &carry_bool,
            },
        ));
    }
    Ok(phiveil_pbs::bootstrap_small(sk, &jobs).map(|blocks| Entries { kinds, blocks }))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use tfhe::integer::ciphertext::DataKind;
    use tfhe::zk::{CompactPkeCrs, ZkComputeLoad};
    use tfhe::{ClientKey, CompactPublicKey, ProvenCompactCiphertextList, ServerKey};

    use super::super::{config, Block, ProvenEntries};
    use super::{cast_key_of, expand};

    /// An entry as the test reads it back: a boolean, or an unsigned value of some bits.
    #[derive(Clone, Copy)]
    enum Kind {
        Bool,
        Uint(u32),
    }

    fn blocks_of(src: &impl ProvenEntries, kinds: &[Kind]) -> Vec<Vec<Block>> {
        kinds
            .iter()
            .enumerate()
            .map(|(i, k)| match k {
                Kind::Bool => vec![src.bit(i).unwrap().unwrap()],
                Kind::Uint(bits) => src.value_blocks(i, *bits).unwrap().unwrap(),
            })
            .collect()
    }

    /// Expands `list` with tfhe and with [`expand`]; every block must agree in value,
    /// degree, noise level and moduli, and each entry must decrypt to `want`.
    fn same_as_tfhe(
        ck: &ClientKey,
        sk: &ServerKey,
        list: &ProvenCompactCiphertextList,
        kinds: &[Kind],
        want: &[u64],
    ) {
        tfhe::set_server_key(sk.clone());
        let theirs = blocks_of(&list.expand_without_verification().unwrap(), kinds);
        let (integer_sk, cast, ..) = sk.clone().into_raw_parts();
        let cast = cast_key_of(cast).expect("the study's casting key is of the batched shape");
        let shortint_sk = integer_sk.into_raw_parts();
        let entries = expand(list, &cast, &shortint_sk).unwrap().expect("handled");
        let ours = blocks_of(&entries, kinds);
        let (integer_ck, ..) = ck.clone().into_raw_parts();
        let sck: &tfhe::shortint::ClientKey = integer_ck.as_ref();
        assert_eq!(ours.len(), theirs.len());
        for ((o, t), w) in ours.iter().zip(&theirs).zip(want) {
            assert_eq!(o.len(), t.len());
            let mut value = 0u64;
            for (k, (ob, tb)) in o.iter().zip(t).enumerate() {
                let ov = sck.decrypt_message_and_carry(ob);
                assert_eq!(ov, sck.decrypt_message_and_carry(tb));
                assert_eq!(ob.degree, tb.degree);
                assert_eq!(ob.noise_level(), tb.noise_level());
                assert_eq!(ob.message_modulus, tb.message_modulus);
                assert_eq!(ob.carry_modulus, tb.carry_modulus);
                value += ov << (2 * k);
            }
            assert_eq!(value, *w);
        }
    }

    /// `list` with its integer-level list's parts replaced (the high-level list
    /// serializes as its integer list, `(ct_list, info)`, then its tag).
    fn with_parts(
        list: &ProvenCompactCiphertextList,
        parts: impl FnOnce(
            tfhe::shortint::ciphertext::ProvenCompactCiphertextList,
            Vec<DataKind>,
        ) -> (
            tfhe::shortint::ciphertext::ProvenCompactCiphertextList,
            Vec<DataKind>,
        ),
    ) -> ProvenCompactCiphertextList {
        let all = bincode::serialize(list).unwrap();
        let inner: tfhe::integer::ciphertext::ProvenCompactCiphertextList =
            bincode::deserialize(&all).unwrap();
        let inner_len = usize::try_from(bincode::serialized_size(&inner).unwrap()).unwrap();
        let (ct, info) = inner.into_raw_parts();
        let (ct, info) = parts(ct, info);
        let mut bytes = bincode::serialize(&(ct, info)).unwrap();
        bytes.extend_from_slice(&all[inner_len..]);
        bincode::deserialize(&bytes).unwrap()
    }

    #[test]
    fn expanded_blocks_equal_tfhes() {
        let ck = ClientKey::generate(config());
        let sk = ServerKey::new(&ck);
        let pk = CompactPublicKey::try_new(&ck).unwrap();
        let kinds = [
            Kind::Uint(8),
            Kind::Bool,
            Kind::Bool,
            Kind::Uint(2),
            Kind::Uint(6),
            Kind::Uint(16),
            Kind::Uint(2),
            Kind::Bool,
        ];
        let want = [200, 1, 0, 3, 45, 60_000, 2, 1];
        let build = |crs: &CompactPkeCrs| {
            ProvenCompactCiphertextList::builder(&pk)
                .push(200u8)
                .push(true)
                .push(false)
                .push_with_num_bits(3u8, 2)
                .unwrap()
                .push_with_num_bits(45u8, 6)
                .unwrap()
                .push(60_000u16)
                .push_with_num_bits(2u8, 2)
                .unwrap()
                .push(true)
                .build_with_proof_packed(crs, b"m", ZkComputeLoad::Verify)
                .unwrap()
        };
        // Packed, one proof (21 blocks in 11 ciphertexts, the last half empty).
        let crs = CompactPkeCrs::from_config(config(), 64).unwrap();
        let list = build(&crs);
        same_as_tfhe(&ck, &sk, &list, &kinds, &want);
        // Packed, several proofs: lists merged as tfhe merges them.
        let small = CompactPkeCrs::from_config(config(), 16).unwrap();
        let split = build(&small);
        let (ct, _) =
            bincode::deserialize::<tfhe::integer::ciphertext::ProvenCompactCiphertextList>(
                &bincode::serialize(&split).unwrap(),
            )
            .unwrap()
            .into_raw_parts();
        assert!(
            ct.into_raw_parts().len() > 1,
            "the small CRS splits the list"
        );
        same_as_tfhe(&ck, &sk, &split, &kinds, &want);
        // A bypassed client labelling two-bit values (3 and 2) as booleans: both
        // expansions sanitize them to 1.
        let relabelled = with_parts(&list, |ct, mut info| {
            info[3] = DataKind::Boolean;
            info[6] = DataKind::Boolean;
            (ct, info)
        });
        let mut kinds2 = kinds;
        kinds2[3] = Kind::Bool;
        kinds2[6] = Kind::Bool;
        let mut want2 = want;
        want2[3] = 1;
        want2[6] = 1;
        same_as_tfhe(&ck, &sk, &relabelled, &kinds2, &want2);
        // Unpacked (one block per ciphertext), as the integer builder makes it.
        let (integer_pk, _) = pk.clone().into_raw_parts();
        let mut b = tfhe::integer::ciphertext::CompactCiphertextListBuilder::new(&integer_pk);
        b.push(200u8)
            .push(true)
            .push(false)
            .push_with_num_blocks(3u8, 1)
            .push_with_num_blocks(45u8, 3)
            .push(60_000u16)
            .push_with_num_blocks(2u8, 1)
            .push(true);
        let unpacked = b
            .build_with_proof(&crs, b"m", ZkComputeLoad::Verify)
            .unwrap();
        let unpacked = with_parts(&list, |_, _| unpacked.into_raw_parts());
        same_as_tfhe(&ck, &sk, &unpacked, &kinds, &want);
    }
}
