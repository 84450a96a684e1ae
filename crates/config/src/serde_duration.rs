//! `time.Duration` JSON: an integer of nanoseconds (what Go writes), or on input also a
//! Go duration string, which is what people write by hand.

use std::{fmt, time::Duration};

use serde::{Deserializer, Serializer, de};

use crate::parse_duration;

pub(crate) fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    let nanos = u64::try_from(duration.as_nanos())
        .map_err(|_| serde::ser::Error::custom(format!("duration {duration:?} exceeds Go's range")))?;
    serializer.serialize_u64(nanos)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative number of nanoseconds or a Go duration string such as \"1m\"")
    }

    fn visit_u64<E: de::Error>(self, nanos: u64) -> Result<Duration, E> {
        Ok(Duration::from_nanos(nanos))
    }

    fn visit_i64<E: de::Error>(self, nanos: i64) -> Result<Duration, E> {
        u64::try_from(nanos)
            .map(Duration::from_nanos)
            .map_err(|_| E::custom(format!("negative duration of {nanos}ns is not allowed")))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse_duration(text).map_err(E::custom)
    }
}
