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

pub mod chunk;

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A content object checksum: 64 lowercase hex digits (sha256).
pub type Checksum = String;

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
    pub fn single_layer<'a>(objects: impl IntoIterator<Item = &'a ContentObject>) -> Plan {
        let set: BTreeSet<&str> = objects.into_iter().map(|o| o.checksum.as_str()).collect();
        Plan {
            layers: vec![LayerPlan {
                kind: LayerKind::Commit,
                objects: set.into_iter().map(str::to_owned).collect(),
                components: Vec::new(),
            }],
        }
    }

    /// Check the plan's invariants against the full set of the commit's content objects.
    ///
    /// # Errors
    /// The first violated invariant, naming the layer or object.
    pub fn validate<'a>(
        &self,
        all: impl IntoIterator<Item = &'a ContentObject>,
    ) -> Result<(), PlanError> {
        if self.layers.is_empty() {
            return Err(PlanError::NoLayers);
        }
        let mut expected: BTreeSet<&str> = all.into_iter().map(|o| o.checksum.as_str()).collect();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if (i == 0) != (layer.kind == LayerKind::Commit) {
                return Err(PlanError::CommitLayerMisplaced(i));
            }
            if layer.objects.windows(2).any(|w| w[0] >= w[1]) {
                // Equal neighbours are duplicates; report them as such.
                if let Some(w) = layer.objects.windows(2).find(|w| w[0] == w[1]) {
                    return Err(PlanError::Duplicate(w[0].clone()));
                }
                return Err(PlanError::Unsorted(i));
            }
            for c in &layer.objects {
                if !seen.insert(c) {
                    return Err(PlanError::Duplicate(c.clone()));
                }
                if !expected.remove(c.as_str()) {
                    return Err(PlanError::Unknown(c.clone()));
                }
            }
        }
        match expected.into_iter().next() {
            Some(c) => Err(PlanError::Missing(c.to_owned())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(c: char) -> ContentObject {
        ContentObject {
            checksum: c.to_string().repeat(64),
            size: 1,
        }
    }

    #[test]
    fn single_layer_holds_everything_sorted_once() {
        let objs = [obj('b'), obj('a'), obj('c'), obj('a')];
        let plan = Plan::single_layer(&objs);
        assert_eq!(plan.layers.len(), 1);
        assert_eq!(plan.layers[0].kind, LayerKind::Commit);
        assert_eq!(
            plan.layers[0].objects,
            vec!["a".repeat(64), "b".repeat(64), "c".repeat(64)]
        );
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
        assert_eq!(
            plan.validate(&[obj('a')]),
            Err(PlanError::Unknown("b".repeat(64)))
        );
        assert_eq!(
            plan.validate(&[obj('a'), obj('b'), obj('c')]),
            Err(PlanError::Missing("c".repeat(64)))
        );
        plan.layers.push(LayerPlan {
            kind: LayerKind::Chunk,
            objects: vec!["a".repeat(64)],
            components: vec!["x".into()],
        });
        assert_eq!(
            plan.validate(&objs),
            Err(PlanError::Duplicate("a".repeat(64)))
        );
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
