//! What a kube-rs controller that publishes Flux artifacts needs around its
//! `Controller`: leader election, cleanup when the owner goes, status conditions on
//! its own objects, events, health and metrics.
//!
//! The modules arrive with the work of the "What every ExternalArtifact producer needs"
//! issue; this crate is their home, next to `flux-artifact-kube` as kube-runtime sits
//! next to kube-client.
