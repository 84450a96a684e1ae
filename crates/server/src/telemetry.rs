//! The hooks the connection loop calls for metrics. Without the `metrics` feature they
//! are empty and the guards are zero-sized, so they compile to nothing.

use std::time::Duration;

use http::{Method, StatusCode};

/// Where the server reports what it does.
#[derive(Debug, Clone, Default)]
pub(crate) struct Telemetry {
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<crate::metrics::ServerMetrics>,
}

impl Telemetry {
    /// Counts a connection until the guard drops (also when its task is aborted).
    pub(crate) fn connection(&self) -> ConnectionGuard {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.connection_opened();
        }
        ConnectionGuard {
            #[cfg(feature = "metrics")]
            metrics: self.metrics.clone(),
        }
    }

    /// Counts a request in flight until the guard drops.
    pub(crate) fn request(&self) -> RequestGuard<'_> {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.request_started();
        }
        RequestGuard {
            #[cfg(feature = "metrics")]
            metrics: self.metrics.as_ref(),
            #[cfg(not(feature = "metrics"))]
            metrics: std::marker::PhantomData,
        }
    }

    /// A client had to wait for a connection slot.
    pub(crate) fn limit_reached(&self) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.limit_reached();
        }
    }
}

/// See [`Telemetry::connection`].
#[derive(Debug)]
pub(crate) struct ConnectionGuard {
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::ServerMetrics>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.connection_closed();
        }
    }
}

/// See [`Telemetry::request`].
#[derive(Debug)]
pub(crate) struct RequestGuard<'a> {
    #[cfg(feature = "metrics")]
    metrics: Option<&'a crate::metrics::ServerMetrics>,
    #[cfg(not(feature = "metrics"))]
    metrics: std::marker::PhantomData<&'a ()>,
}

impl RequestGuard<'_> {
    /// Records the response: its status, the body bytes sent, the time it took.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn response(&self, method: Option<&Method>, status: StatusCode, sent: u64, elapsed: Duration) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = self.metrics {
            metrics.response(method, status, sent, elapsed);
        }
    }
}

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = self.metrics {
            metrics.request_ended();
        }
    }
}
