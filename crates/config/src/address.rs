//! `host:port` splitting and joining with Go's `net.SplitHostPort` / `net.JoinHostPort`
//! rules, so `--storage-addr` values mean what they mean to the Go SDK.

/// Splits `host:port`, `[ipv6]:port` or `:port`. The host may be empty; the port is
/// returned as text (Go does not check it either; [`parse_port`] does).
pub(crate) fn split_host_port(address: &str) -> Result<(&str, &str), &'static str> {
    const MISSING_PORT: &str = "missing port in address";
    const TOO_MANY_COLONS: &str = "too many colons in address";

    let Some(last_colon) = address.rfind(':') else {
        return Err(MISSING_PORT);
    };
    let (host, host_start, host_end) = if address.starts_with('[') {
        let Some(close) = address.find(']') else {
            return Err("missing ']' in address");
        };
        if close + 1 == address.len() {
            return Err(MISSING_PORT);
        }
        if close + 1 != last_colon {
            return Err(if address.as_bytes()[close + 1] == b':' {
                TOO_MANY_COLONS
            } else {
                MISSING_PORT
            });
        }
        (&address[1..close], 1, close + 1)
    } else {
        let host = &address[..last_colon];
        if host.contains(':') {
            return Err(TOO_MANY_COLONS);
        }
        (host, 0, 0)
    };
    if address[host_start..].contains('[') {
        return Err("unexpected '[' in address");
    }
    if address[host_end..].contains(']') {
        return Err("unexpected ']' in address");
    }
    Ok((host, &address[last_colon + 1..]))
}

/// Parses a numeric TCP port.
pub(crate) fn parse_port(port: &str) -> Result<u16, &'static str> {
    if port.is_empty() {
        return Err("missing port number after ':'");
    }
    port.parse()
        .map_err(|_| "the port must be a number from 0 to 65535")
}

/// Joins a host and port, bracketing hosts that contain `:` (IPv6 literals).
pub(crate) fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_go() {
        for (address, host, port) in [
            (":9090", "", "9090"),
            ("0.0.0.0:9090", "0.0.0.0", "9090"),
            ("localhost:80", "localhost", "80"),
            ("[::1]:9090", "::1", "9090"),
            ("[::]:9090", "::", "9090"),
            ("[fe80::1%eth0]:1", "fe80::1%eth0", "1"),
            ("host:", "host", ""),
            ("a:b", "a", "b"),
        ] {
            assert_eq!(split_host_port(address), Ok((host, port)), "{address}");
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for (address, reason) in [
            ("invalid-address", "missing port in address"),
            ("", "missing port in address"),
            ("invalid:address:format", "too many colons in address"),
            ("::1:9090", "too many colons in address"),
            ("[::1]", "missing port in address"),
            ("[::1]x:9090", "missing port in address"),
            ("[::1]::9090", "too many colons in address"),
            ("[::1:9090", "missing ']' in address"),
            ("a[b:9090", "unexpected '[' in address"),
            ("a]b:9090", "unexpected ']' in address"),
        ] {
            assert_eq!(split_host_port(address), Err(reason), "{address}");
        }
    }

    #[test]
    fn ports_must_be_numbers_in_range() {
        assert_eq!(parse_port("9090"), Ok(9090));
        assert_eq!(parse_port("0"), Ok(0));
        assert!(parse_port("").is_err());
        assert!(parse_port("http").is_err());
        assert!(parse_port("65536").is_err());
        assert!(parse_port("-1").is_err());
    }

    #[test]
    fn joins_ipv6_hosts_in_brackets() {
        assert_eq!(join_host_port("::1", "9090"), "[::1]:9090");
        assert_eq!(join_host_port("pod-0", "9090"), "pod-0:9090");
    }
}
