//! Which Hub requests go through a proxy (issue 15): `NO_PROXY` read as curl and the Hub's
//! Python client read it, and a proxy URL as it may be shown. The variables themselves are
//! read in [`super::env`]; the agents that use a proxy are built in [`super::client`].
//!
//! A proxy's password must never be printed: everything that shows a proxy URL (errors,
//! logs, `Debug`) shows [`redact`]'s form of it.

use std::net::IpAddr;

/// The hosts reached without a proxy: `NO_PROXY`'s comma- (or space-) separated entries.
///
/// - `*` alone: every host.
/// - A name (`example.com`, `.example.com`, `*.example.com`): that host and every host
///   under it, case-insensitively; a leading `.` or `*.` changes nothing, as in curl.
///   `example.com` does not match `notexample.com`.
/// - An IP address (`127.0.0.1`, `::1`, `[::1]`): that address; a CIDR range
///   (`10.0.0.0/8`, `fd00::/8`): every address in it. Names are not resolved: an entry
///   `127.0.0.1` does not match `localhost`, as in curl.
/// - Any of these with `:port` (`[::1]:8080` for IPv6) matches only that port, as
///   Python's `urllib` allows; without one, every port.
///
/// An entry that is none of these matches nothing (curl ignores it too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    everything: bool,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pattern: Pattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// Lower case, without leading or trailing dots.
    Name(String),
    Address(IpAddr),
    Network(IpAddr, u8),
}

impl NoProxy {
    pub fn parse(text: &str) -> NoProxy {
        let mut rules = NoProxy::default();
        for item in text.split([',', ' ', '\t']).filter(|i| !i.is_empty()) {
            if item == "*" {
                rules.everything = true;
            } else if let Some(entry) = Entry::parse(item) {
                rules.entries.push(entry);
            }
        }
        rules
    }

    /// Whether a request to `host` (as a URL has it: a name, an IPv4 address, a bracketed
    /// IPv6 address) on `port` goes without the proxy.
    pub fn bypasses(&self, host: &str, port: u16) -> bool {
        if self.everything {
            return true;
        }
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let address = bare.parse::<IpAddr>().ok();
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        self.entries.iter().any(|entry| {
            entry.port.is_none_or(|p| p == port)
                && match (&entry.pattern, address) {
                    (Pattern::Address(a), Some(b)) => *a == b,
                    (Pattern::Network(net, bits), Some(b)) => in_network(*net, *bits, b),
                    (Pattern::Name(n), None) => {
                        name == *n
                            || name
                                .strip_suffix(n.as_str())
                                .is_some_and(|head| head.ends_with('.'))
                    }
                    _ => false,
                }
        })
    }
}

impl Entry {
    fn parse(item: &str) -> Option<Entry> {
        // A CIDR range (an IPv6 one is written without brackets); no port.
        if let Some((address, bits)) = item.split_once('/') {
            let address = address.parse::<IpAddr>().ok()?;
            let bits = bits.parse::<u8>().ok()?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            return (bits <= max).then_some(Entry {
                pattern: Pattern::Network(address, bits),
                port: None,
            });
        }
        // A bare IPv6 address has colons that are not a port.
        if let Ok(address) = item.parse::<IpAddr>() {
            return Some(Entry {
                pattern: Pattern::Address(address),
                port: None,
            });
        }
        if let Some(rest) = item.strip_prefix('[') {
            let (address, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?.parse::<u16>().ok()?),
            };
            return Some(Entry {
                pattern: Pattern::Address(address.parse::<IpAddr>().ok()?),
                port,
            });
        }
        let (host, port) = match item.rsplit_once(':') {
            Some((host, port)) => (host, Some(port.parse::<u16>().ok()?)),
            None => (item, None),
        };
        if let Ok(address) = host.parse::<IpAddr>() {
            return Some(Entry {
                pattern: Pattern::Address(address),
                port,
            });
        }
        let name = host
            .strip_prefix("*.")
            .unwrap_or(host)
            .trim_matches('.')
            .to_ascii_lowercase();
        (!name.is_empty()).then_some(Entry {
            pattern: Pattern::Name(name),
            port,
        })
    }
}

/// Whether `address` is in `network`/`bits` (both of one family).
fn in_network(network: IpAddr, bits: u8, address: IpAddr) -> bool {
    let prefix = |a: u128, width: u32| {
        let shift = width - u32::from(bits);
        if shift >= 128 { 0 } else { a >> shift }
    };
    match (network, address) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            prefix(u128::from(u32::from(n)), 32) == prefix(u128::from(u32::from(a)), 32)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => prefix(u128::from(n), 128) == prefix(u128::from(a), 128),
        _ => false,
    }
}

/// `url` with the password of its user info (`user:password@`) replaced by `****`: what
/// errors and logs show of a proxy URL. Everything after the first `:` before the last `@`
/// is masked, so a password with a raw `/` or `@` in it is masked too.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let Some(at) = rest.rfind('@') else {
        return url.to_string();
    };
    let (user_info, host) = rest.split_at(at);
    match user_info.split_once(':') {
        Some((user, _password)) => format!("{scheme}{user}:****{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_themselves_and_their_subdomains_as_in_curl() {
        let rules = NoProxy::parse("example.com, .internal.org,*.corp.net ,LOCALHOST");
        for (host, expected) in [
            ("example.com", true),
            ("EXAMPLE.com.", true),
            ("www.example.com", true),
            ("notexample.com", false),
            ("example.com.evil.net", false),
            ("internal.org", true),
            ("a.b.internal.org", true),
            ("corp.net", true),
            ("x.corp.net", true),
            ("localhost", true),
            ("127.0.0.1", false),
        ] {
            assert_eq!(rules.bypasses(host, 443), expected, "{host}");
        }
    }

    #[test]
    fn addresses_ranges_and_ports() {
        let rules = NoProxy::parse("127.0.0.1,10.0.0.0/8,::1,[fd00::5]:8080,hub.local:8000");
        assert!(rules.bypasses("127.0.0.1", 1234));
        assert!(!rules.bypasses("127.0.0.2", 1234));
        assert!(rules.bypasses("10.200.3.4", 80));
        assert!(!rules.bypasses("11.0.0.1", 80));
        assert!(rules.bypasses("[::1]", 443));
        assert!(rules.bypasses("[fd00::5]", 8080));
        assert!(!rules.bypasses("[fd00::5]", 8081));
        assert!(rules.bypasses("hub.local", 8000));
        assert!(!rules.bypasses("hub.local", 443));
        // An address entry is not a name: nothing is resolved.
        assert!(!rules.bypasses("localhost", 80));

        let v6 = NoProxy::parse("fd00::/16,0.0.0.0/0");
        assert!(v6.bypasses("[fd00:1::2]", 1));
        assert!(!v6.bypasses("[fe80::1]", 1));
        assert!(v6.bypasses("192.0.2.1", 1));
    }

    #[test]
    fn a_star_matches_everything_and_junk_matches_nothing() {
        assert!(NoProxy::parse("*").bypasses("huggingface.co", 443));
        assert!(NoProxy::parse("a.b, *").bypasses("c.d", 443));
        let junk = NoProxy::parse("host:notaport,10.0.0.0/99,[::1,.,");
        assert_eq!(junk, NoProxy::default());
        assert!(!NoProxy::parse("").bypasses("huggingface.co", 443));
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact("http://user:secret@proxy:3128"),
            "http://user:****@proxy:3128"
        );
        assert_eq!(redact("user:s/e@c:ret@proxy:3128"), "user:****@proxy:3128");
        assert_eq!(redact("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(redact("http://user@proxy:3128"), "http://user@proxy:3128");
    }
}
