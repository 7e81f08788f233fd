//! # phiveil-pbs
//!
//! Table lookups on many shortint blocks at once, for the relay's block fold and its
//! expansion of proven lists (`phiveil_core::fhe`). A crate of its own because it instantiates tfhe's generic
//! blind rotation: it is compiled with tfhe's optimization in every profile (the
//! workspace's `Cargo.toml`), while `phiveil-core` stays a debug build in tests.
//!
//! tfhe bootstraps one ciphertext at a time: each bootstrap walks the whole
//! bootstrapping key, one GGSW ciphertext per coefficient of the small LWE key. [`apply`]
//! bootstraps a group of blocks together, so that each GGSW is used for every block of
//! the group while it is in the core's cache (tfhe's `batch_blind_rotate_assign`). Each
//! block goes through the same steps as in tfhe's `apply_lookup_table` and
//! `apply_many_lookup_table` for the parameters' atomic pattern (keyswitch then
//! bootstrap): the keyswitch, the modulus switch with the parameters' noise reduction,
//! the blind rotation of the block's own table, and the sample extraction (one per
//! function for a many-LUT table); each result gets the table's degree and a nominal
//! noise level, as tfhe sets them. On this kind of 2-core machine a lookup costs
//! 15.9 ms of one core in groups of 16, against 20.9 ms one by one.
//!
//! A key of another atomic pattern, a trivial block (which tfhe evaluates in the
//! clear) and a group of one take tfhe's own one-by-one calls.
//!
//! [`bootstrap_small`] does the same for LWE ciphertexts already under the small key:
//! the bootstraps that follow the casting keyswitch when a compact list is expanded.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use tfhe::core_crypto::fft_impl::fft64::crypto::bootstrap::batch_blind_rotate_assign_scratch;
use tfhe::core_crypto::fft_impl::fft64::math::fft::Fft;
use tfhe::core_crypto::prelude::{
    extract_lwe_sample_from_glwe_ciphertext, keyswitch_lwe_ciphertext,
    par_expand_lwe_compact_ciphertext_list, CiphertextCount, CiphertextModulusLog,
    ComputationBuffers, Container, ContiguousEntityContainer, ContiguousEntityContainerMut,
    FourierLweBootstrapKeyOwned, GlweCiphertextCount, GlweCiphertextList, GlweCiphertextListOwned,
    LweCiphertext, LweCiphertextList, LweCiphertextOwned, LweCiphertextView,
    LweCompactCiphertextListOwned, LweDimension, LweKeyswitchKeyOwned,
    ModulusSwitchedLweCiphertext, MonomialDegree,
};
use tfhe::shortint::atomic_pattern::AtomicPatternServerKey;
use tfhe::shortint::ciphertext::Degree;
use tfhe::shortint::server_key::{
    LookupTableOwned, ManyLookupTableOwned, ModulusSwitchConfiguration, ShortintBootstrappingKey,
};
use tfhe::shortint::{PBSOrder, ServerKey};

/// A shortint ciphertext: one block of a radix integer.
pub type Block = tfhe::shortint::Ciphertext;

/// The table one block goes through: one function, or several in one bootstrap.
#[derive(Clone, Copy)]
pub enum Table<'a> {
    /// One function (`apply_lookup_table`).
    One(&'a LookupTableOwned),
    /// Several functions of a small value (`apply_many_lookup_table`).
    Many(&'a ManyLookupTableOwned),
}

/// Blocks bootstrapped together by one thread, at most (the gain levels off from
/// about 16).
const GROUP: usize = 16;

/// The group size that splits `n` jobs into groups of nearly equal size, about a
/// multiple of `threads` of them, each at most [`GROUP`], so that threads seldom wait
/// for another's last group.
fn group_size(n: usize, threads: usize) -> usize {
    let threads = threads.max(1);
    let groups = n.div_ceil(GROUP).div_ceil(threads).saturating_mul(threads);
    n.div_ceil(groups.max(1)).max(1)
}

/// Applies each job's table to its block with the server key `sk`. One entry per job,
/// in order, holding one block per function of the table. Natively the groups run in
/// parallel on the current rayon pool (whose threads need no thread-local key: `sk` is
/// passed).
pub fn apply(sk: &ServerKey, jobs: &[(Block, Table<'_>)]) -> Vec<Vec<Block>> {
    in_groups(jobs, |g| group(sk, g))
}

/// `run` on `jobs` split into groups of [`group_size`], natively in parallel on the
/// current rayon pool; the groups' results concatenated, in order.
fn in_groups<J: Sync, R: Send>(jobs: &[J], run: impl Fn(&[J]) -> Vec<R> + Send + Sync) -> Vec<R> {
    #[cfg(not(target_arch = "wasm32"))]
    let groups: Vec<Vec<R>> = {
        use rayon::prelude::*;
        let size = group_size(jobs.len(), rayon::current_num_threads());
        jobs.par_chunks(size).map(run).collect()
    };
    #[cfg(target_arch = "wasm32")]
    let groups: Vec<Vec<R>> = jobs.chunks(group_size(jobs.len(), 1)).map(run).collect();
    groups.into_iter().flatten().collect()
}

/// A modulus-switched LWE ciphertext with its mask computed once. tfhe's batched blind
/// rotation reads mask element `i` of every ciphertext at step `i` (`mask().nth(i)`);
/// on tfhe's lazy form that recomputes the elements before `i` each time.
struct Switched {
    log_modulus: CiphertextModulusLog,
    body: usize,
    mask: Vec<usize>,
}

impl ModulusSwitchedLweCiphertext<usize> for Switched {
    fn log_modulus(&self) -> CiphertextModulusLog {
        self.log_modulus
    }

    fn lwe_dimension(&self) -> LweDimension {
        LweDimension(self.mask.len())
    }

    fn body(&self) -> usize {
        self.body
    }

    fn mask(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.mask.iter().copied()
    }
}

/// tfhe's own call for one job.
fn one(sk: &ServerKey, (b, t): &(Block, Table<'_>)) -> Vec<Block> {
    match t {
        Table::One(l) => vec![sk.apply_lookup_table(b, l)],
        Table::Many(m) => sk.apply_many_lookup_table(b, m),
    }
}

fn group(sk: &ServerKey, jobs: &[(Block, Table<'_>)]) -> Vec<Vec<Block>> {
    let Some(key) = classic(sk) else {
        return jobs.iter().map(|j| one(sk, j)).collect();
    };
    if jobs.len() < 2 || jobs.iter().any(|(b, _)| b.is_trivial()) {
        return jobs.iter().map(|j| one(sk, j)).collect();
    }
    let switched: Vec<LweCiphertextOwned<u64>> = jobs
        .iter()
        .map(|(b, _)| keyswitched(key.ksk, &b.ct))
        .collect();
    let inputs: Vec<(&LweCiphertextOwned<u64>, &[u64])> = switched
        .iter()
        .zip(jobs)
        .map(|(lwe, (_, t))| {
            let table: &[u64] = match t {
                Table::One(l) => l.acc.as_ref(),
                Table::Many(m) => m.acc.as_ref(),
            };
            (lwe, table)
        })
        .collect();
    let accs = rotate(sk, &key, &inputs);
    jobs.iter()
        .zip(accs.iter())
        .map(|((b, t), acc)| {
            let extract = |at: usize, degree: Degree| {
                let mut out = b.clone();
                extract_lwe_sample_from_glwe_ciphertext(&acc, &mut out.ct, MonomialDegree(at));
                out.degree = degree;
                out.set_noise_level_to_nominal();
                out
            };
            match t {
                Table::One(l) => vec![extract(0, l.degree)],
                Table::Many(m) => m
                    .per_function_output_degree
                    .iter()
                    .enumerate()
                    .map(|(j, d)| extract(j.saturating_mul(m.sample_extraction_stride), *d))
                    .collect(),
            }
        })
        .collect()
}

/// `lwe` keyswitched with `ksk`, into a new ciphertext under `ksk`'s output key.
fn keyswitched<C: Container<Element = u64>>(
    ksk: &LweKeyswitchKeyOwned<u64>,
    lwe: &LweCiphertext<C>,
) -> LweCiphertextOwned<u64> {
    let mut out = LweCiphertext::new(
        0u64,
        ksk.output_key_lwe_dimension().to_lwe_size(),
        ksk.ciphertext_modulus(),
    );
    keyswitch_lwe_ciphertext(ksk, lwe, &mut out);
    out
}

/// The parts of a classic keyswitch-then-bootstrap key (standard atomic pattern), the
/// only kind the batched path handles.
struct Classic<'a> {
    ksk: &'a LweKeyswitchKeyOwned<u64>,
    bsk: &'a FourierLweBootstrapKeyOwned,
    ms: &'a ModulusSwitchConfiguration<u64>,
}

fn classic(sk: &ServerKey) -> Option<Classic<'_>> {
    let AtomicPatternServerKey::Standard(ap) = &sk.atomic_pattern else {
        return None;
    };
    let ShortintBootstrappingKey::Classic {
        bsk,
        modulus_switch_noise_reduction_key: ms,
    } = &ap.bootstrapping_key
    else {
        return None;
    };
    (ap.pbs_order == PBSOrder::KeyswitchBootstrap).then_some(Classic {
        ksk: &ap.key_switching_key,
        bsk,
        ms,
    })
}

/// The blind rotation of each table by its LWE ciphertext under the key's small LWE
/// key, all together: the modulus switch under the key's noise-reduction configuration
/// (as tfhe's `apply_ms_blind_rotate`), then tfhe's `batch_blind_rotate_assign`. One
/// GLWE accumulator per input, in order.
fn rotate(
    sk: &ServerKey,
    key: &Classic<'_>,
    inputs: &[(&LweCiphertextOwned<u64>, &[u64])],
) -> GlweCiphertextListOwned<u64> {
    let Classic { bsk, ms, .. } = key;
    let log_modulus = bsk.polynomial_size().to_blind_rotation_input_modulus_log();
    let msed: Vec<Switched> = inputs
        .iter()
        .map(|(lwe, _)| {
            let lazy = ms.lwe_ciphertext_modulus_switch::<usize, _>(*lwe, log_modulus);
            Switched {
                log_modulus,
                body: lazy.body(),
                mask: lazy.mask().collect(),
            }
        })
        .collect();
    let (glwe_size, poly_size) = (bsk.glwe_size(), bsk.polynomial_size());
    let mut accs = GlweCiphertextList::new(
        0u64,
        glwe_size,
        poly_size,
        GlweCiphertextCount(inputs.len()),
        sk.ciphertext_modulus,
    );
    for (mut acc, (_, table)) in accs.iter_mut().zip(inputs) {
        acc.as_mut().copy_from_slice(table);
    }
    let fft = Fft::new(poly_size);
    let fft = fft.as_view();
    let mut buffers = ComputationBuffers::new();
    buffers.resize(
        batch_blind_rotate_assign_scratch::<u64>(
            glwe_size,
            poly_size,
            CiphertextCount(inputs.len()),
            fft,
        )
        .unaligned_bytes_required(),
    );
    bsk.as_view()
        .batch_blind_rotate_assign(accs.as_mut_view(), &msed, fft, buffers.stack());
    accs
}

/// The LWE ciphertexts of compact lists (tfhe's `par_expand_lwe_compact_ciphertext_list`,
/// list after list), each keyswitched with `ksk` (the casting keyswitch of a compact
/// list's expansion). Here rather than in its caller so that tfhe's generic keyswitch
/// is compiled with this crate's optimization.
pub fn expand_and_keyswitch(
    lists: &[&LweCompactCiphertextListOwned<u64>],
    ksk: &LweKeyswitchKeyOwned<u64>,
) -> Vec<LweCiphertextOwned<u64>> {
    let keyswitch = |lwe: LweCiphertextView<'_, u64>| keyswitched(ksk, &lwe);
    let mut small: Vec<LweCiphertextOwned<u64>> = Vec::new();
    for compact in lists {
        let mut expanded = LweCiphertextList::new(
            0u64,
            compact.lwe_size(),
            compact.lwe_ciphertext_count(),
            compact.ciphertext_modulus(),
        );
        par_expand_lwe_compact_ciphertext_list(&mut expanded, compact);
        #[cfg(not(target_arch = "wasm32"))]
        {
            use rayon::prelude::*;
            small.par_extend(expanded.par_iter().map(keyswitch));
        }
        #[cfg(target_arch = "wasm32")]
        small.extend(expanded.iter().map(keyswitch));
    }
    small
}

/// Bootstraps LWE ciphertexts that are already under the key's small LWE key, each
/// through its own table, in groups as [`apply`] does. This is the second half of
/// tfhe's casting of a compact list's entries to the computation key when the casting
/// keyswitch lands on the small key (`KeySwitchingKey::cast_and_apply_functions`: the
/// keyswitch, then per function `apply_programmable_bootstrap`): each result is the
/// key's trivial zero with the bootstrap's output, the table's degree and a nominal
/// noise level, as tfhe sets them. `None` where the key is not a classic
/// keyswitch-then-bootstrap key (the caller then takes tfhe's own path).
pub fn bootstrap_small(
    sk: &ServerKey,
    jobs: &[(&LweCiphertextOwned<u64>, &LookupTableOwned)],
) -> Option<Vec<Block>> {
    let key = classic(sk)?;
    Some(in_groups(jobs, |g| {
        let inputs: Vec<(&LweCiphertextOwned<u64>, &[u64])> =
            g.iter().map(|(c, t)| (*c, t.acc.as_ref())).collect();
        let accs = rotate(sk, &key, &inputs);
        g.iter()
            .zip(accs.iter())
            .map(|((_, t), acc)| {
                let mut out = sk.create_trivial(0);
                extract_lwe_sample_from_glwe_ciphertext(&acc, &mut out.ct, MonomialDegree(0));
                out.degree = t.degree;
                out.set_noise_level_to_nominal();
                out
            })
            .collect()
    }))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use tfhe::shortint::gen_keys;
    use tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;

    use super::{apply, group_size, Block, Table, GROUP};

    /// The batched lookups give what tfhe's one-by-one calls give: the same decrypted
    /// values, degrees and (nominal) noise levels, for single and many-LUT tables, in
    /// one group, in several groups on two threads, for a trivial block among them and
    /// for a group of one.
    #[test]
    fn batched_lookups_equal_tfhes_one_by_one() {
        let (ck, sk) = gen_keys(PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128);
        let msg = sk.generate_lookup_table(|x| x % 4);
        let carry = sk.generate_lookup_table(|x| x / 4);
        let odd = sk.generate_lookup_table(|x| (3 * x + 1) % 16);
        let both = sk.generate_many_lookup_table(&[&|x| x % 4, &|x| x / 4]);
        // Inputs of every degree: sums of fresh encryptions (up to 15, noise up to 5),
        // and for the many-LUT table sums up to 7.
        let sum = |vals: &[u64]| -> Block {
            let mut acc = ck.encrypt(vals[0]);
            for v in &vals[1..] {
                sk.unchecked_add_assign(&mut acc, &ck.encrypt(*v));
            }
            acc
        };
        let mut jobs: Vec<(Block, Table<'_>, Vec<u64>)> = Vec::new();
        for v in 0..16u64 {
            let parts = [
                v.min(3),
                (v.saturating_sub(3)).min(3),
                (v.saturating_sub(6)).min(3),
                (v.saturating_sub(9)).min(3),
                v.saturating_sub(12),
            ];
            let b = sum(&parts);
            jobs.push((b.clone(), Table::One(&msg), vec![v % 4]));
            jobs.push((b.clone(), Table::One(&carry), vec![v / 4]));
            jobs.push((b, Table::One(&odd), vec![(3 * v + 1) % 16]));
            if v <= 7 {
                let b = sum(&[v.min(3), v.saturating_sub(3).min(3), v.saturating_sub(6)]);
                jobs.push((b, Table::Many(&both), vec![v % 4, v / 4]));
            }
        }
        jobs.push((sk.create_trivial(2), Table::One(&odd), vec![7]));
        let input: Vec<(Block, Table<'_>)> = jobs.iter().map(|(b, t, _)| (b.clone(), *t)).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for slice in [&input[..], &input[..GROUP], &input[..1]] {
            let got = pool.install(|| apply(&sk, slice));
            assert_eq!(got.len(), slice.len());
            for ((out, (b, t)), (_, _, want)) in got.iter().zip(slice).zip(&jobs) {
                let theirs = match t {
                    Table::One(l) => vec![sk.apply_lookup_table(b, l)],
                    Table::Many(m) => sk.apply_many_lookup_table(b, m),
                };
                assert_eq!(out.len(), want.len());
                for ((o, th), w) in out.iter().zip(&theirs).zip(want) {
                    assert_eq!(ck.decrypt_message_and_carry(o), *w);
                    assert_eq!(ck.decrypt_message_and_carry(th), *w);
                    assert_eq!(o.degree, th.degree);
                    assert_eq!(o.noise_level(), th.noise_level());
                    assert_eq!(o.message_modulus, th.message_modulus);
                    assert_eq!(o.carry_modulus, th.carry_modulus);
                }
            }
        }
    }

    #[test]
    fn groups_are_even_and_bounded() {
        for threads in 1..=8 {
            for n in 1..=200 {
                let size = group_size(n, threads);
                assert!(
                    (1..=GROUP).contains(&size),
                    "n {n} threads {threads}: {size}"
                );
                // At least one full-sized share per thread when there are jobs enough.
                if n >= threads * GROUP {
                    assert!(n.div_ceil(size) >= threads, "n {n} threads {threads}");
                }
            }
        }
        assert_eq!(group_size(20, 2), 10);
        assert_eq!(group_size(40, 2), 10);
        assert_eq!(group_size(64, 2), 16);
    }
}
