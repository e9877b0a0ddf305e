//! What the kernel counts about the gateway's sockets, read from `/proc` at
//! scrape time: UDP datagrams dropped because a socket's receive buffer was
//! full (`RcvbufErrors`), the traps lost before vcgate could read them.
//!
//! The counters are per network namespace (host-wide on a plain host), not
//! per socket: another UDP service on the host adds to them too. Linux only;
//! elsewhere (or when `/proc` is hidden) nothing is reported.
//!
//! Must not: fail a scrape. A missing or odd file means "no value".

/// IPv4 `Udp: RcvbufErrors` plus IPv6 `Udp6RcvbufErrors`, when readable.
pub fn udp_rcvbuf_errors() -> Option<u64> {
    let v4 = std::fs::read_to_string("/proc/net/snmp")
        .ok()
        .and_then(|text| snmp_field(&text, "Udp", "RcvbufErrors"));
    let v6 = std::fs::read_to_string("/proc/net/snmp6")
        .ok()
        .and_then(|text| snmp6_field(&text, "Udp6RcvbufErrors"));
    match (v4, v6) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

/// A field of `/proc/net/snmp`: pairs of lines `Proto: Name1 Name2 …` and
/// `Proto: value1 value2 …`.
fn snmp_field(text: &str, proto: &str, field: &str) -> Option<u64> {
    let prefix = format!("{proto}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let index = names.split_whitespace().position(|n| n == field)?;
    values.split_whitespace().nth(index)?.parse().ok()
}

/// A field of `/proc/net/snmp6`: one `Name value` per line.
fn snmp6_field(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next()? == field)
            .then(|| parts.next()?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
        Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
        Udp: 203964 3 17 203965 12 0\n\
        UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
        UdpLite: 0 0 0 0 99 0\n";

    #[test]
    fn reads_the_udp_line_not_udplite() {
        assert_eq!(snmp_field(SNMP, "Udp", "RcvbufErrors"), Some(12));
        assert_eq!(snmp_field(SNMP, "Udp", "InErrors"), Some(17));
        assert_eq!(snmp_field(SNMP, "Udp", "Nonexistent"), None);
        assert_eq!(
            snmp_field("Udp: RcvbufErrors\n", "Udp", "RcvbufErrors"),
            None
        );
        assert_eq!(snmp_field("", "Udp", "RcvbufErrors"), None);
    }

    #[test]
    fn reads_the_ipv6_counter() {
        let text = "Udp6InDatagrams \t 5\nUdp6RcvbufErrors\t7\nUdpLite6RcvbufErrors 9\n";
        assert_eq!(snmp6_field(text, "Udp6RcvbufErrors"), Some(7));
        assert_eq!(
            snmp6_field("Udp6RcvbufErrors x\n", "Udp6RcvbufErrors"),
            None
        );
    }

    #[test]
    fn this_host_reports_a_value() {
        // The test machines are Linux with /proc mounted.
        assert!(udp_rcvbuf_errors().is_some());
    }
}
