//! Pure planning for ostree-encap: which ostree content objects go into which image layer.
//!
//! The plan is plain data. It is computed from a list of content objects (checksum, size,
//! owning component) without touching a repository, so it can be tested, diffed and printed on
//! its own; only the executor in `encapsulate` turns it into tar streams.
//!
//! Invariants every [`Plan`] upholds (checked by [`Plan::validate`]):
//! - `layers[0]` is the commit layer (it also carries all metadata objects, which are not
//!   part of the plan because they always go there);
//! - every content object appears in exactly one layer;
//! - inside a layer, objects are sorted by checksum, so the stream order is a pure function of
//!   the plan.

mod checksum;
pub mod chunk;
pub mod synthetic;

pub use checksum::{Checksum, Hex};

use serde::{Deserialize, Serialize};
use std::fmt;

/// What the planner needs to know about one content object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentObject {
    /// Object checksum.
    pub checksum: Checksum,
    /// Uncompressed payload size in bytes (0 for symlinks).
    pub size: u64,
}

/// What kind of layer a [`LayerPlan`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerKind {
    /// The first layer: commit, detached metadata, every dirtree/dirmeta, the directory
    /// structure, plus any content not assigned to a chunk.
    Commit,
    /// A chunk layer holding content objects of some components.
    Chunk,
}

/// One planned layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerPlan {
    /// Commit layer or chunk layer.
    pub kind: LayerKind,
    /// Content object checksums in this layer, sorted ascending.
    pub objects: Vec<Checksum>,
    /// Sorted component names whose content is in this layer (empty for the commit layer of
    /// an unchunked image).
    pub components: Vec<String>,
}

/// The complete layer plan of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Layers in image order; `layers[0]` is the commit layer.
    pub layers: Vec<LayerPlan>,
}

/// Why a plan is not valid for a given set of objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// The plan has no layers at all.
    NoLayers,
    /// The first layer is not the commit layer, or a later one is.
    CommitLayerMisplaced(usize),
    /// An object is listed in more than one layer (or twice in one).
    Duplicate(Checksum),
    /// An object of the commit is in no layer.
    Missing(Checksum),
    /// A layer lists an object that the commit does not have.
    Unknown(Checksum),
    /// Objects inside a layer are not sorted ascending.
    Unsorted(usize),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::NoLayers => write!(f, "plan has no layers"),
            PlanError::CommitLayerMisplaced(i) => {
                write!(
                    f,
                    "layer {i}: the commit layer must be first and only first"
                )
            }
            PlanError::Duplicate(c) => write!(f, "content object {c} is planned twice"),
            PlanError::Missing(c) => write!(f, "content object {c} is in no layer"),
            PlanError::Unknown(c) => write!(f, "content object {c} is not part of the commit"),
            PlanError::Unsorted(i) => write!(f, "layer {i}: objects are not sorted"),
        }
    }
}

impl std::error::Error for PlanError {}

impl Plan {
    /// The plan of an unchunked image: one commit layer holding every content object.
    pub fn single_layer<'a>(objects: impl IntoIterator<Item = &'a Checksum>) -> Plan {
        let mut all: Vec<Checksum> = objects.into_iter().copied().collect();
        all.sort_unstable();
        all.dedup();
        Plan {
            layers: vec![LayerPlan {
                kind: LayerKind::Commit,
                objects: all,
                components: Vec::new(),
            }],
        }
    }

    /// Check the plan's invariants against the full set of the commit's content objects.
    /// Sorted vectors of references, not sets: a million objects check in a fraction of a
    /// second and ~16 MB.
    ///
    /// # Errors
    /// The first violated invariant, naming the layer or object.
    pub fn validate<'a>(
        &self,
        all: impl IntoIterator<Item = &'a Checksum>,
    ) -> Result<(), PlanError> {
        if self.layers.is_empty() {
            return Err(PlanError::NoLayers);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            if (i == 0) != (layer.kind == LayerKind::Commit) {
                return Err(PlanError::CommitLayerMisplaced(i));
            }
            if layer.objects.windows(2).any(|w| w[0] >= w[1]) {
                // Equal neighbours are duplicates; report them as such.
                if let Some(w) = layer.objects.windows(2).find(|w| w[0] == w[1]) {
                    return Err(PlanError::Duplicate(w[0]));
                }
                return Err(PlanError::Unsorted(i));
            }
        }
        let mut planned: Vec<&Checksum> = self.layers.iter().flat_map(|l| &l.objects).collect();
        planned.sort_unstable();
        if let Some(w) = planned.windows(2).find(|w| w[0] == w[1]) {
            return Err(PlanError::Duplicate(*w[0]));
        }
        let mut expected: Vec<&Checksum> = all.into_iter().collect();
        expected.sort_unstable();
        expected.dedup();
        // Both sorted and free of duplicates: walk them side by side.
        let (mut p, mut e) = (planned.iter().peekable(), expected.iter().peekable());
        let mut missing = None;
        loop {
            match (p.peek(), e.peek()) {
                (Some(a), Some(b)) if a == b => {
                    p.next();
                    e.next();
                }
                (Some(a), Some(b)) if a < b => return Err(PlanError::Unknown(***a)),
                (Some(a), None) => return Err(PlanError::Unknown(***a)),
                (_, Some(b)) => {
                    missing = missing.or(Some(***b));
                    e.next();
                }
                (None, None) => break,
            }
        }
        match missing {
            Some(c) => Err(PlanError::Missing(c)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(c: char) -> Checksum {
        c.to_string().repeat(64).parse().expect("hex")
    }

    fn obj(c: char) -> Checksum {
        cs(c)
    }

    #[test]
    fn single_layer_holds_everything_sorted_once() {
        let objs = [obj('b'), obj('a'), obj('c'), obj('a')];
        let plan = Plan::single_layer(&objs);
        assert_eq!(plan.layers.len(), 1);
        assert_eq!(plan.layers[0].kind, LayerKind::Commit);
        assert_eq!(plan.layers[0].objects, vec![cs('a'), cs('b'), cs('c')]);
        plan.validate(&objs).unwrap();
    }

    #[test]
    fn single_layer_of_nothing_is_valid() {
        let plan = Plan::single_layer(&[]);
        assert_eq!(plan.layers.len(), 1);
        plan.validate(&[]).unwrap();
    }

    #[test]
    fn validate_names_each_violation() {
        let objs = [obj('a'), obj('b')];
        let mut plan = Plan::single_layer(&objs);
        assert_eq!(plan.validate(&[obj('a')]), Err(PlanError::Unknown(cs('b'))));
        assert_eq!(
            plan.validate(&[obj('a'), obj('b'), obj('c')]),
            Err(PlanError::Missing(cs('c')))
        );
        plan.layers.push(LayerPlan {
            kind: LayerKind::Chunk,
            objects: vec![cs('a')],
            components: vec!["x".into()],
        });
        assert_eq!(plan.validate(&objs), Err(PlanError::Duplicate(cs('a'))));
        plan.layers[1].kind = LayerKind::Commit;
        assert_eq!(
            plan.validate(&objs),
            Err(PlanError::CommitLayerMisplaced(1))
        );
        plan.layers.truncate(1);
        plan.layers[0].objects.reverse();
        assert_eq!(plan.validate(&objs), Err(PlanError::Unsorted(0)));
        assert_eq!(
            Plan { layers: vec![] }.validate(&objs),
            Err(PlanError::NoLayers)
        );
    }
}
