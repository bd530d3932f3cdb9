//! Work spread over threads with results in a fixed order: the layer writers' queue, the
//! layer readers of composefs digests and verification, oci-delta's layer scans
//! ([`run_in_order`], [`each_in_order`]: all results at the end), and one layer's tar stream
//! made in batches ([`pipeline`]: consumed in order as they come, a bounded window ahead).
//! Outputs must not depend on which thread finishes first, so results are kept by index.

pub mod pipeline;

use anyhow::{bail, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Threads for `--jobs N`: `N`, or one per CPU for 0.
pub fn threads(n: usize) -> usize {
    match n {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
}

/// Run `work(state, i)` for every `i` in `order` (each of `0..order.len()` once, in any
/// order), on one thread per state, taking indexes in the order given; after the first error
/// no new work starts. Results are by index, so they do not depend on which thread finishes
/// first; the error reported is the lowest index's.
///
/// # Errors
/// The lowest index's error; an `order` that is not such a permutation.
pub fn run_in_order<S: Send, T: Send>(
    states: Vec<S>,
    order: &[usize],
    work: impl Fn(&S, usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let total = order.len();
    let mut seen = vec![false; total];
    for &i in order {
        if i >= total || std::mem::replace(&mut seen[i], true) {
            bail!("internal error: work order {order:?} is not a permutation of 0..{total}");
        }
    }
    let results: Vec<Mutex<Option<Result<T>>>> = (0..total).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for state in states {
            let (results, next, failed, work) = (&results, &next, &failed, &work);
            scope.spawn(move || loop {
                if failed.load(Ordering::SeqCst) {
                    return;
                }
                let Some(&i) = order.get(next.fetch_add(1, Ordering::SeqCst)) else {
                    return;
                };
                let r = work(&state, i);
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                if let Ok(mut g) = results[i].lock() {
                    *g = Some(r);
                }
            });
        }
    });
    let mut done = Vec::with_capacity(total);
    let mut first_error = None;
    for slot in results {
        match slot
            .into_inner()
            .map_err(|_| anyhow::anyhow!("a layer writer panicked"))?
        {
            Some(Ok(t)) => done.push(t),
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if done.len() != total {
        bail!("internal error: {} of {total} layers written", done.len());
    }
    Ok(done)
}

/// [`run_in_order`] over `items`, taken in order, on `jobs` threads (at least one, at most one
/// per item): `f(item)` for each, results in item order.
///
/// # Errors
/// The first item's error, in item order.
pub fn each_in_order<I: Sync, T: Send>(
    items: &[I],
    jobs: usize,
    f: impl Fn(&I) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let order: Vec<usize> = (0..items.len()).collect();
    run_in_order(
        vec![(); jobs.clamp(1, items.len().max(1))],
        &order,
        |_, i| f(&items[i]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_by_index_and_the_lowest_error() {
        let order = [3, 1, 0, 2];
        let r = run_in_order(vec![(), (), ()], &order, |_, i| Ok(i * 10)).unwrap();
        assert_eq!(r, [0, 10, 20, 30]);
        let e = run_in_order(vec![()], &order, |_, i| {
            if i == 1 || i == 3 {
                bail!("failed {i}")
            }
            Ok(i)
        })
        .unwrap_err();
        // One thread takes 3 first and stops: no other work starts after an error.
        assert_eq!(e.to_string(), "failed 3");
        // Some of the indexes only (a caller's subset) is a caller's error, not a panic.
        for order in [&[0, 2][..], &[1, 1]] {
            let e = run_in_order(vec![()], order, |_, i| Ok(i)).unwrap_err();
            assert!(e.to_string().contains("not a permutation"), "{e}");
        }
    }

    #[test]
    fn each_in_order_keeps_item_order_and_the_first_error() {
        let items: Vec<u32> = (0..50).collect();
        for jobs in [0, 1, 3, 100] {
            let r = each_in_order(&items, jobs, |x| Ok(x * 2)).unwrap();
            assert_eq!(
                r,
                items.iter().map(|x| x * 2).collect::<Vec<_>>(),
                "{jobs} jobs"
            );
        }
        let e = each_in_order(&items, 1, |&x| {
            if x == 7 || x == 9 {
                bail!("failed {x}")
            }
            Ok(x)
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "failed 7");
        assert!(each_in_order(&[] as &[u32], 4, |&x| Ok(x))
            .unwrap()
            .is_empty());
    }
}
