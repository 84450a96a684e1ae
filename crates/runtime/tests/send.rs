//! The helpers' futures are `Send` (and `'static` where they own what they use), so a
//! kube-rs `Controller`, which spawns reconciles, can run them. Compile-time checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{future::Future, sync::Arc};

use common::{PodinfoSource, TempStorage, podinfo_source, scripted_client};
use flux_artifact_runtime::{
    cleanup::{ArtifactFinalizer, FinalizerError, OrphanSweep},
    leader::LeaderElection,
    status::{ReconcileStatus, StatusWriter},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::controller::Action;

impl ReconcileStatus for PodinfoSource {
    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }
}

fn send<F: Future + Send>(future: F) -> F {
    future
}

fn send_static<F: Future + Send + 'static>(future: F) -> F {
    future
}

#[derive(Debug, thiserror::Error)]
#[error("failed")]
struct Failed;

struct Context {
    finalizer: ArtifactFinalizer<PodinfoSource>,
    status: StatusWriter,
}

/// A reconciler as a Controller takes it: owning its arguments.
async fn reconcile(object: Arc<PodinfoSource>, ctx: Arc<Context>) -> Result<Action, FinalizerError<Failed>> {
    ctx.finalizer
        .reconcile(object, async |object| {
            let mut object = Arc::unwrap_or_clone(object);
            ctx.status
                .progressing(&mut object, "building")
                .await
                .map_err(|_| Failed)?;
            Ok(Action::await_change())
        })
        .await
}

#[tokio::test]
async fn the_helpers_futures_are_send() {
    let storage = TempStorage::new();
    let (client, _server) = scripted_client(vec![]);
    let ctx = Arc::new(Context {
        finalizer: ArtifactFinalizer::new(client.clone(), storage.storage.clone(), "example.com/artifacts"),
        status: StatusWriter::new(client.clone(), "podinfo-controller"),
    });
    // Built, not run: the checks are the bounds.
    drop(send_static(reconcile(Arc::new(podinfo_source()), ctx)));
    drop(send(OrphanSweep::new("a=b").run(&client, &storage.storage)));
    let election = LeaderElection::new("lease", "flux-system");
    drop(send(election.run(client.clone(), async {}, |_stop| async {})));
}
