use super::*;

#[test]
fn stream_order_is_by_first_path_then_checksum() {
    let c = |ch: char| -> Checksum { ch.to_string().repeat(64).parse().expect("hex") };
    let mut inv = Inventory::default();
    inv.set_content([
        (c('a'), Some("usr/share/z")),
        (c('b'), Some("usr/bin/b")),
        (c('c'), None), // only under a top-level sysroot
        (c('d'), Some("etc/d")),
        (c('a'), Some("usr/bin/a")),
    ])
    .expect("content");
    let objects = vec![c('a'), c('b'), c('c'), c('d')];
    // The first path as walked counts, not the smallest: that is the one written first.
    let sums = |o: Vec<Placed<'_>>| o.iter().map(|p| *p.sum).collect::<Vec<_>>();
    assert_eq!(
        sums(stream_order(&inv, &objects)),
        vec![c('c'), c('d'), c('b'), c('a')]
    );
    // Not in the inventory at all: sorts like an object without paths.
    let stray = vec![c('f'), c('b')];
    let order = stream_order(&inv, &stray);
    assert_eq!(sums(order.clone()), vec![c('f'), c('b')]);
    assert_eq!((order[0].at, order[1].at), (None, Some(1)));
}
