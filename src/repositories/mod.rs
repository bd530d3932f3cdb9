//! Images as ostree repositories: ostree repositories made of images (`mirror`), static
//! deltas stored beside images as OCI artifacts (`deltas`), serving images to `ostree pull`
//! (`serve`, over `repo-server`, its content objects made on request from layers through
//! `reading::layer_objects`). Above `reading` and `building`.

pub mod deltas;
pub mod mirror;
pub mod oci_deltas;
pub mod serve;
