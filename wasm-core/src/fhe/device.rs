//! Where the relay's homomorphic work runs, and the way it folds there.
//!
//! Two ways to fold, one [`Aggregator`](super::Aggregator) API:
//! * **blocks** (the CPU default): a submission's 2-bit blocks are added into the running
//!   totals and a carry is moved up only when a block is full (`super::blocks`); the
//!   histogram check is a many-LUT bootstrap per pair of cells. These are tfhe's
//!   shortint operations, which its CUDA backend does not offer one by one.
//! * **integer**: tfhe's high-level integer operations on whole values (cast to 32 bits,
//!   `&`, `eq`, `+`). tfhe runs them on whatever its thread's server key is: the CPU
//!   key, or a CUDA key on a GPU. This is the GPU path; on the CPU it is the same code
//!   with the CPU key, which is how the tests check it on machines without a GPU.
//!
//! [`Device::detect`] picks the GPU when the crate is built with the `gpu` feature, the
//! NVIDIA driver is loaded and CUDA reports a device; otherwise the CPU.

use std::cell::Cell;

use tfhe::prelude::*;
use tfhe::{
    CompactCiphertextListExpander, FheBool, FheUint10, FheUint12, FheUint14, FheUint16, FheUint2,
    FheUint32, FheUint4, FheUint6, FheUint8,
};

use super::{fhe_err, Encoding, FieldSpec, StudySpec};
use crate::{Error, Result};

/// Where a [`KeyedPool`](super::KeyedPool)'s threads run the study's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// The CPU cores.
    Cpu,
    /// A CUDA GPU (tfhe's CUDA backend; needs the `gpu` feature).
    Gpu,
}

impl core::fmt::Display for Device {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        })
    }
}

impl Device {
    /// The device the relay aggregates on, decided once per process:
    /// `PHIVEIL_FHE_DEVICE=cpu` forces the CPU; otherwise a GPU when this build has the
    /// `gpu` feature, the NVIDIA driver is loaded (see [`Device::gpu_present`]) and CUDA
    /// counts at least one device; otherwise the CPU. The driver is checked first
    /// because tfhe's CUDA calls abort the process on a machine without one.
    pub fn detect() -> Device {
        static CHOSEN: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let forced_cpu = std::env::var("PHIVEIL_FHE_DEVICE").is_ok_and(|v| v == "cpu");
            if !forced_cpu && Self::gpu_present() {
                Device::Gpu
            } else {
                Device::Cpu
            }
        })
    }

    /// Whether this build can use a GPU here: the `gpu` feature, the NVIDIA kernel
    /// driver loaded (`/proc/driver/nvidia/version`, or its control device
    /// `/dev/nvidiactl` where a container or VM does not show the driver's `/proc`
    /// entry), and CUDA counting a device.
    pub fn gpu_present() -> bool {
        let driver = ["/proc/driver/nvidia/version", "/dev/nvidiactl"]
            .iter()
            .any(|p| std::path::Path::new(p).exists());
        cfg!(feature = "gpu") && driver && gpus() > 0
    }
}

#[cfg(feature = "gpu")]
fn gpus() -> u32 {
    tfhe::core_crypto::gpu::get_number_of_gpus()
}

#[cfg(not(feature = "gpu"))]
fn gpus() -> u32 {
    0
}

thread_local! {
    static INTEGER_OPS: Cell<bool> = const { Cell::new(false) };
}

/// Sets whether this thread folds with tfhe's integer operations (set by the pool that
/// holds the thread's key).
#[cfg(not(target_arch = "wasm32"))]
pub(super) fn set_integer_ops(on: bool) {
    INTEGER_OPS.with(|c| c.set(on));
}

/// Whether this thread folds with tfhe's integer operations.
pub(super) fn integer_ops() -> bool {
    INTEGER_OPS.with(Cell::get)
}

/// Proven encoding: a value of `$bits` wire bits, bounded to its field's `$keep` bits
/// (one AND in its own width, where the two differ) and widened to 32 bits.
macro_rules! whole_value {
    ($expander:expr, $i:expr, $bits:expr, $keep:expr, $($n:literal => $ty:ty as $clear:ty),*) => {
        match $bits {
            $($n => $expander.get::<$ty>($i).map_err(fhe_err)?.map(|v| -> FheUint32 {
                let v = if $keep == $n { v } else { v & <$clear>::try_from((1u32 << $keep) - 1).unwrap_or(<$clear>::MAX) };
                v.cast_into()
            }),)*
            _ => None,
        }
    };
}

fn wide(b: FheBool) -> FheUint32 {
    FheUint32::cast_from(b)
}

/// A histogram's proven cells, kept only when exactly one is set (else all 0): the
/// cells' sum compared with 1, and each cell ANDed with the result.
fn one_hot_or_nothing(cells: &[FheBool]) -> Vec<FheUint32> {
    let Some((first, rest)) = cells.split_first() else {
        return Vec::new();
    };
    let mut sum = FheUint8::cast_from(first.clone());
    for c in rest {
        sum += FheUint8::cast_from(c.clone());
    }
    let ok = sum.eq(1u8);
    cells.iter().map(|c| wide(c & &ok)).collect()
}

/// Checked encoding: one-hot cells from the comparisons with the ascending edges.
fn cells_from_edges(ge: Vec<FheBool>) -> Vec<FheUint32> {
    let Some(first) = ge.first() else {
        return Vec::new();
    };
    let mut out = vec![wide(!first)];
    for w in ge.windows(2) {
        if let [a, b] = w {
            out.push(wide(a & &!b));
        }
    }
    out.extend(ge.into_iter().last().map(wide));
    out
}

/// What one expanded submission adds to each running total (the fields' sums, then
/// every histogram cell, then every threshold), as whole 32-bit values computed with
/// tfhe's integer operations on this thread's device. Same meaning as the blocks path:
/// an odd width bounded to its bits, a histogram that is not one-hot counts nowhere,
/// and in the checked encoding the value is clamped and compared.
pub(super) fn contributions(
    study: &StudySpec,
    expander: &CompactCiphertextListExpander,
) -> Result<Vec<FheUint32>> {
    let n = study.fields.len();
    let (mut sums, mut cells, mut thresholds) = (Vec::with_capacity(n), Vec::new(), Vec::new());
    let wrong = |f: &FieldSpec| Error::Fhe(format!("field {} has the wrong type", f.name));
    let mut i = 0;
    let bit = |i: &mut usize| -> Result<FheBool> {
        let b = expander
            .get::<FheBool>(*i)
            .map_err(fhe_err)?
            .ok_or_else(|| Error::Fhe("a submission entry is missing".into()))?;
        *i += 1;
        Ok(b)
    };
    for f in &study.fields {
        match study.encoding {
            Encoding::Proven => {
                let value = match f.proven_wire_bits() {
                    Some(bits) => {
                        let v = whole_value!(expander, i, bits, f.proven_bits(),
                            2 => FheUint2 as u8, 4 => FheUint4 as u8, 6 => FheUint6 as u8,
                            8 => FheUint8 as u8, 10 => FheUint10 as u16, 12 => FheUint12 as u16,
                            14 => FheUint14 as u16, 16 => FheUint16 as u16)
                        .ok_or_else(|| wrong(f))?;
                        i += 1;
                        v
                    }
                    None => wide(bit(&mut i)?),
                };
                sums.push(value);
                let hist = (0..f.cells())
                    .map(|_| bit(&mut i))
                    .collect::<Result<Vec<_>>>()?;
                cells.extend(one_hot_or_nothing(&hist));
                for _ in &f.at_least {
                    thresholds.push(wide(bit(&mut i)?));
                }
            }
            Encoding::Checked => {
                // Odd block counts widened by one block (a trivial zero): on a GPU,
                // tfhe's scalar min aborts the process on an odd number of blocks.
                let (v, e, t) = prepare_narrow!(expander, i, f,
                    |v| FheUint32::cast_from(v),
                    2 => FheUint2 as u8 => FheUint4, 4 => FheUint4 as u8,
                    6 => FheUint6 as u8 => FheUint8, 8 => FheUint8 as u8,
                    10 => FheUint10 as u16 => FheUint12, 12 => FheUint12 as u16,
                    14 => FheUint14 as u16 => FheUint16, 16 => FheUint16 as u16)
                .ok_or_else(|| wrong(f))?;
                i += 1;
                sums.push(v);
                cells.extend(cells_from_edges(e));
                thresholds.extend(t.into_iter().map(wide));
            }
        }
    }
    sums.extend(cells);
    sums.extend(thresholds);
    Ok(sums)
}

/// Adds `adds` into a running total with tfhe's integer operations (on this thread's
/// device): the batch by tfhe's many-operand sum (carries propagated once, not per
/// addition), then one addition into the total (which may hold carries, resumed from a
/// checkpoint folded by blocks).
pub(super) fn add_into(slot: &mut Option<FheUint32>, adds: Vec<FheUint32>) {
    if adds.is_empty() {
        return;
    }
    let sum: FheUint32 = adds.into_iter().sum();
    *slot = Some(match slot.take() {
        Some(s) => s + sum,
        None => sum,
    });
}
