//! Bucket-plan thinning, shared by every plugin so that `-O O0`…`O2` mean the same thing
//! everywhere (DESIGN.md, "Bucket plans"). The O3 plan is the model's full preset (cut
//! to the max model length); lower levels keep `k` = 1, 2, 4 items of each list with one
//! rule, [`pick`].

use crate::v1::{AttentionBucket, BucketPlan};

/// Items kept per list at an optimization level (`None` for O3: everything).
pub fn keep_for_level(level: &str) -> Option<usize> {
    match level {
        "O0" => Some(1),
        "O1" => Some(2),
        "O2" => Some(4),
        _ => None,
    }
}

/// The divisor of decode batch sizes at a level: O0 keeps the first n/8, O1 n/4, O2 n/2.
fn decode_batch_divisor(keep: usize) -> usize {
    match keep {
        1 => 8,
        2 => 4,
        _ => 2,
    }
}

/// From a sorted list of `n` items keep `k`: all of it when `n <= k`, else the last item
/// of each of `k` equal chunks (`L[floor((j+1)·n/k) − 1]`), so the maximum always stays.
pub fn pick<T: Clone>(items: &[T], k: usize) -> Vec<T> {
    let n = items.len();
    if n <= k || k == 0 {
        return items.to_vec();
    }
    (0..k).map(|j| items[(j + 1) * n / k - 1].clone()).collect()
}

/// Thin a full (O3) plan to `keep` items per list. Sampler sizes are not touched: they
/// follow from the tokenwise sizes and the tensor-parallel size ([`sampler_sizes`]).
pub fn thin(full: &BucketPlan, keep: usize) -> BucketPlan {
    let mut tokenwise: Vec<u64> = full.tokenwise.first().copied().into_iter().collect();
    for size in pick(&full.tokenwise, keep) {
        if !tokenwise.contains(&size) {
            tokenwise.push(size);
        }
    }
    tokenwise.sort_unstable();

    let prefill = pick(&full.prefill, keep);

    let mut batches: Vec<u64> = full.decode.iter().map(|b| b.batch).collect();
    batches.dedup();
    let kept_batches = (batches.len() / decode_batch_divisor(keep)).max(1);
    let decode = batches
        .iter()
        .take(kept_batches)
        .flat_map(|batch| {
            let of_batch: Vec<AttentionBucket> = full
                .decode
                .iter()
                .filter(|b| b.batch == *batch)
                .copied()
                .collect();
            pick(&of_batch, keep)
        })
        .collect();

    let mut attentions: Vec<u64> = full.append.iter().map(|b| b.attention).collect();
    attentions.dedup();
    let append = pick(&attentions, keep)
        .into_iter()
        .flat_map(|attention| {
            let of_attention: Vec<AttentionBucket> = full
                .append
                .iter()
                .filter(|b| b.attention == attention)
                .copied()
                .collect();
            pick(&of_attention, keep)
        })
        .collect();

    BucketPlan {
        tokenwise,
        sampler: Vec::new(),
        prefill,
        decode,
        append,
    }
}

/// The sampler runs on the tokenwise sizes `t` with `t >= tp / 8`.
pub fn sampler_sizes(tokenwise: &[u64], tensor_parallel_size: u64) -> Vec<u64> {
    tokenwise
        .iter()
        .copied()
        .filter(|t| t * 8 >= tensor_parallel_size)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_keeps_the_last_of_each_chunk() {
        let tw = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
        assert_eq!(pick(&tw, 1), [1024]);
        assert_eq!(pick(&tw, 2), [16, 1024]);
        assert_eq!(pick(&tw, 4), [2, 16, 128, 1024]);
        assert_eq!(pick(&[5, 6], 4), [5, 6]);
    }

    #[test]
    fn the_sampler_follows_tensor_parallelism() {
        assert_eq!(sampler_sizes(&[1, 2, 4, 8], 8), [1, 2, 4, 8]);
        assert_eq!(sampler_sizes(&[1, 2, 4, 8], 32), [4, 8]);
    }
}
