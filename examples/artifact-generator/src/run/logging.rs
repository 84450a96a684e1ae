//! Structured logs on stderr, as `--log-level` and `--log-encoding` ask.
//!
//! Every reconcile runs in a span naming its ArtifactGenerator (`namespace`, `name`), so
//! each line logged during it names the generator. The JSON encoding writes one flat
//! object per line in the shape of Flux's controllers' logs (`ts`, `level`, `msg`, then
//! the fields of the enclosing spans and of the event): tracing-subscriber's own JSON
//! nests span fields under `span`, beside the span's own `name`, which would hide a
//! field called `name`.

use std::{fmt, io::IsTerminal};

use serde_json::{Map, Value};
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{
    Layer,
    filter::{LevelFilter, Targets},
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter,
        format::{JsonFields, Writer},
        time::{FormatTime, SystemTime},
    },
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use super::args::{LogEncoding, LogLevel};

/// Dependencies that log each connection or frame at debug level: kept at `info` unless
/// the level asked for is quieter, so that `--log-level=debug` shows the controller's
/// decisions rather than HTTP/2 frames.
const CHATTY: [&str; 5] = ["h2", "hyper", "hyper_util", "rustls", "tower"];

/// kube's client logs every failed request as an error; the code that sent it reports
/// the failure too, with what it was doing (`cannot reach the Kubernetes API server at
/// …`), so that line is kept for `--log-level=debug` and `trace`.
const KUBE_CLIENT_FAILURES: &str = "kube_client::client::builder";

/// Installs the process's subscriber, writing to stderr. Call once, before anything
/// logs.
pub(crate) fn init(level: LogLevel, encoding: LogEncoding) {
    tracing_subscriber::registry()
        .with(layer(
            level,
            encoding,
            std::io::stderr,
            std::io::stderr().is_terminal(),
        ))
        .init();
}

/// The filtered formatting layer for `level` and `encoding`, writing to `writer`.
fn layer<S, W>(
    level: LogLevel,
    encoding: LogEncoding,
    writer: W,
    ansi: bool,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = filter(Level::from(level));
    match encoding {
        LogEncoding::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
        LogEncoding::Console => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    }
}

fn filter(level: Level) -> Targets {
    // More verbose levels compare greater: min() is the quieter of the two.
    let chatty = level.min(Level::INFO);
    let filter = CHATTY
        .iter()
        .fold(Targets::new().with_default(level), |filter, target| {
            filter.with_target(*target, chatty)
        });
    if level >= Level::DEBUG {
        filter
    } else {
        filter.with_target(KUBE_CLIENT_FAILURES, LevelFilter::OFF)
    }
}

/// One JSON object per event: `ts` (RFC 3339), `level`, `msg`, the fields of the
/// enclosing spans (outermost first, inner ones winning), the event's fields, `target`.
struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                // With `JsonFields`, a span's recorded fields are a JSON object.
                if let Some(recorded) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(recorded)) = serde_json::from_str::<Value>(recorded)
                {
                    fields.extend(recorded);
                }
            }
        }
        event.record(&mut Fields(&mut fields));

        let mut ts = String::new();
        SystemTime.format_time(&mut Writer::new(&mut ts))?;
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        let mut line: Vec<(String, Value)> = vec![("ts".into(), ts.into()), ("level".into(), level.into())];
        line.extend(fields.remove("msg").map(|msg| ("msg".to_owned(), msg)));
        line.extend(
            fields
                .into_iter()
                .filter(|(key, _)| !matches!(key.as_str(), "ts" | "level" | "target")),
        );
        line.push(("target".into(), event.metadata().target().into()));

        writer.write_char('{')?;
        for (index, (key, value)) in line.iter().enumerate() {
            if index > 0 {
                writer.write_char(',')?;
            }
            write!(writer, "{}:{value}", Value::from(key.as_str()))?;
        }
        writer.write_str("}\n")
    }
}

/// Records an event's fields into the line; `message` becomes `msg`.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn insert(&mut self, field: &Field, value: Value) {
        let key = match field.name() {
            "message" => "msg",
            name => name,
        };
        self.0.insert(key.to_owned(), value);
    }
}

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here as Display wrapped in Debug: no quotes added.
        self.insert(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer collecting everything logged.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(level: LogLevel, encoding: LogEncoding, log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(layer(level, encoding, captured.clone(), false));
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    fn json_lines(text: &str) -> Vec<Value> {
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn a_json_line_inside_a_reconcile_names_the_generator() {
        let text = logged(LogLevel::Info, LogEncoding::Json, || {
            let span = tracing::info_span!("reconcile", namespace = "apps", name = "podinfo");
            let _entered = span.enter();
            tracing::info!(artifacts = 2, "reconciliation succeeded");
        });
        let lines = json_lines(&text);
        assert_eq!(lines.len(), 1, "{text}");
        let line = &lines[0];
        assert_eq!(line["namespace"], "apps");
        assert_eq!(line["name"], "podinfo", "the span's field, not the span's name");
        assert_eq!(line["msg"], "reconciliation succeeded");
        assert_eq!(line["level"], "info");
        assert_eq!(line["artifacts"], 2);
        assert!(line["ts"].as_str().unwrap().ends_with('Z'), "{line}");
    }

    #[test]
    fn a_json_line_keeps_its_keys_in_fluxs_order() {
        let text = logged(LogLevel::Info, LogEncoding::Json, || {
            tracing::warn!(url = "http://x/", "careful")
        });
        let keys: Vec<&str> = text
            .split("\":")
            .map(|part| part.rsplit('"').next().unwrap())
            .collect();
        assert_eq!(keys[..4], ["ts", "level", "msg", "url"], "{text}");
    }

    #[test]
    fn an_error_field_is_its_message() {
        let text = logged(LogLevel::Info, LogEncoding::Json, || {
            let error = std::io::Error::other("disk full");
            tracing::error!(error = &error as &dyn std::error::Error, "exiting");
        });
        assert_eq!(json_lines(&text)[0]["error"], "disk full");
    }

    #[test]
    fn the_level_filters_events() {
        let text = logged(LogLevel::Warn, LogEncoding::Json, || {
            tracing::info!("hidden");
            tracing::warn!("shown");
        });
        let lines = json_lines(&text);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["msg"], "shown");
    }

    #[test]
    fn kube_clients_failure_lines_are_debug_only() {
        let emit = || tracing::error!(target: "kube_client::client::builder", "failed with error client error (Connect)");
        assert_eq!(logged(LogLevel::Info, LogEncoding::Json, emit), "");
        assert!(!logged(LogLevel::Debug, LogEncoding::Json, emit).is_empty());
    }

    #[test]
    fn chatty_dependencies_stay_at_info_under_debug() {
        let text = logged(LogLevel::Debug, LogEncoding::Json, || {
            tracing::debug!(target: "h2::codec", "frame");
            tracing::debug!("decision");
        });
        let lines = json_lines(&text);
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["msg"], "decision");
    }

    #[test]
    fn the_console_encoding_is_text_with_the_span_fields() {
        let text = logged(LogLevel::Info, LogEncoding::Console, || {
            let span = tracing::info_span!("reconcile", namespace = "apps", name = "podinfo");
            let _entered = span.enter();
            tracing::info!("reconciled");
        });
        assert!(
            text.contains("reconcile{namespace=\"apps\" name=\"podinfo\"}"),
            "{text}"
        );
        assert!(text.contains("reconciled"), "{text}");
    }
}
